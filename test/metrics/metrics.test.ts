import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COUNTED_EVENTS as AUTH_EVENTS } from '../../src/common/security-events.js';
import { expectError, GOOD_PASSWORD, Http } from '../support/http.js';
import { createTestApp, type TestApp, useTestApp } from '../support/test-app.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (comments skipped). */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    expect(match, `unparsed metrics line: ${line}`).not.toBeNull();
    const labels: Record<string, string> = {};
    for (const [, key, value] of match![2]?.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g) ?? []) {
      labels[key!] = value!;
    }
    samples.push({ name: match![1]!, labels, value: Number(match![3]) });
  }
  return samples;
}

/** The samples of one metric whose labels include `labels`. */
function find(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter(
    (sample) =>
      sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
}

/** The value of exactly one series (0 when it does not exist yet). */
function valueOf(samples: Sample[], name: string, labels: Record<string, string>): number {
  const found = find(samples, name, labels);
  expect(found.length, `${name} ${JSON.stringify(labels)}`).toBeLessThanOrEqual(1);
  return found[0]?.value ?? 0;
}

async function scrape(http: Http, token?: string): Promise<Sample[]> {
  const reply = await http.get('/metrics', { token });
  expect(reply.status, reply.text).toBe(200);
  return parseMetrics(reply.text);
}

const authEvents = (samples: Sample[]) =>
  Object.fromEntries(
    AUTH_EVENTS.map((event) => [event, valueOf(samples, 'gatehouse_auth_events_total', { event })]),
  );

describe('metrics', () => {
  const { http } = useTestApp({ REFRESH_REUSE_GRACE: '0' });

  it('GET /metrics is public without METRICS_TOKEN, in the Prometheus text format', async () => {
    const reply = await http.get('/metrics');
    expect(reply.status, reply.text).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(reply.text).toMatch(/^# HELP /m);
    // Public: an Authorization header, even a bad one, is ignored.
    expect((await http.get('/metrics', { token: 'garbage' })).status).toBe(200);
  });

  it('includes the default process metrics', async () => {
    const samples = await scrape(http);
    expect(find(samples, 'process_cpu_user_seconds_total')).toHaveLength(1);
    expect(
      find(samples, 'process_resident_memory_bytes').length +
        find(samples, 'nodejs_heap_size_used_bytes').length,
    ).toBeGreaterThan(0);
  });

  it('counts each auth event exactly once, from the request outcomes', async () => {
    const before = authEvents(await scrape(http));

    const user = await http.signup();
    await http.signin(user.email);
    expectError(
      await http.post('/auth/signin', { body: { email: user.email, password: 'wrong ' + GOOD_PASSWORD } }),
      401,
      'invalid_credentials',
    );
    const refreshed = await http.post('/auth/refresh', { body: { refreshToken: user.refreshToken } });
    expect(refreshed.status, refreshed.text).toBe(200);
    expectError(
      await http.post('/auth/refresh', { body: { refreshToken: user.refreshToken } }),
      401,
      'refresh_token_reused',
    );
    expectError(
      await http.post('/auth/signin?cookie=1', {
        body: { email: user.email, password: GOOD_PASSWORD },
        headers: { origin: 'https://evil.example.net' },
      }),
      403,
      'csrf_rejected',
    );
    // Outcomes that are none of the events.
    expectError(await http.post('/auth/signin', { body: { email: user.email } }), 400, 'validation_failed');
    expectError(
      await http.post('/auth/signup', { body: { email: user.email, password: GOOD_PASSWORD } }),
      409,
      'email_taken',
    );
    expectError(
      await http.post('/auth/refresh', { body: { refreshToken: 'not-a-refresh-token' } }),
      401,
      'invalid_refresh_token',
    );

    const after = authEvents(await scrape(http));
    const increments = Object.fromEntries(
      AUTH_EVENTS.map((event) => [event, after[event]! - before[event]!]),
    );
    expect(increments).toEqual({
      signup: 1,
      signin_succeeded: 1,
      signin_failed: 1,
      refresh: 1,
      refresh_token_reused: 1,
      csrf_rejected: 1,
      throttled: 0,
      // Counted in test/mfa/signin.test.ts.
      mfa_enabled: 0,
      mfa_disabled: 0,
      mfa_reset: 0,
      mfa_challenge: 0,
      mfa_challenge_failed: 0,
      recovery_code_used: 0,
    });
  });

  it('counts requests and their latency by method, route pattern and status', async () => {
    const user = await http.signup();
    const labels = { method: 'GET', route: '/users/me', status: '200' };
    const before = valueOf(await scrape(http), 'gatehouse_http_requests_total', labels);
    expect((await http.get('/users/me', { token: user.accessToken })).status).toBe(200);
    expect((await http.get('/users/me', { token: user.accessToken })).status).toBe(200);
    const sessionId = randomUUID();
    expect((await http.delete(`/auth/sessions/${sessionId}`, { token: user.accessToken })).status).toBe(404);

    const reply = await http.get('/metrics');
    const samples = parseMetrics(reply.text);
    expect(valueOf(samples, 'gatehouse_http_requests_total', labels) - before).toBe(2);
    const buckets = find(samples, 'gatehouse_http_request_duration_seconds_bucket', labels);
    expect(buckets.length).toBeGreaterThan(1);
    expect(
      valueOf(samples, 'gatehouse_http_request_duration_seconds_bucket', { ...labels, le: '+Inf' }),
    ).toBe(valueOf(samples, 'gatehouse_http_request_duration_seconds_count', labels));
    // A route with a parameter is labelled by its pattern, never by the URL.
    expect(
      valueOf(samples, 'gatehouse_http_requests_total', {
        method: 'DELETE',
        route: '/auth/sessions/:id',
        status: '404',
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(reply.text).not.toContain(sessionId);
  });

  it('gives unknown URLs one route label, not one series each', async () => {
    const labels = { method: 'GET', route: 'unmatched', status: '404' };
    const beforeSamples = await scrape(http);
    const seriesBefore = find(beforeSamples, 'gatehouse_http_requests_total').length;
    const before = valueOf(beforeSamples, 'gatehouse_http_requests_total', labels);
    const paths = Array.from({ length: 20 }, () => `/no-such-route/${randomUUID()}`);
    for (const path of paths) expectError(await http.get(path), 404, 'not_found');

    const reply = await http.get('/metrics');
    const samples = parseMetrics(reply.text);
    expect(valueOf(samples, 'gatehouse_http_requests_total', labels) - before).toBe(20);
    for (const path of paths) expect(reply.text).not.toContain(path);
    // At most two new series: the unmatched one, and the first scrape's own.
    expect(find(samples, 'gatehouse_http_requests_total').length - seriesBefore).toBeLessThanOrEqual(2);
    for (const sample of find(samples, 'gatehouse_http_requests_total')) {
      expect(sample.labels.route).toMatch(/^(unmatched|\/[\w./:-]*)$/);
      expect(sample.labels.route).not.toMatch(/no-such-route/);
    }
  });

  it('keeps separate counters for two apps in one process', async () => {
    const other = await createTestApp();
    try {
      const otherHttp = new Http(other.app);
      const otherBefore = authEvents(await scrape(otherHttp));
      const before = authEvents(await scrape(http));
      await http.signup();
      expect(authEvents(await scrape(http)).signup! - before.signup!).toBe(1);
      expect(authEvents(await scrape(otherHttp))).toEqual(otherBefore);
      await otherHttp.signup();
      await otherHttp.signup();
      expect(authEvents(await scrape(otherHttp)).signup! - otherBefore.signup!).toBe(2);
      expect(authEvents(await scrape(http)).signup! - before.signup!).toBe(1);
    } finally {
      await other.close();
    }
  });

  it('is documented in the OpenAPI document: anonymous or the metrics token, never an access token', async () => {
    const doc = (await http.get('/docs/openapi.json')).body;
    const operation = doc.paths['/metrics']?.get;
    expect(operation).toBeDefined();
    expect(operation.security).toEqual([{}, { metricsToken: [] }]);
    expect(doc.components.securitySchemes.metricsToken).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(operation.description).toMatch(/METRICS_TOKEN/);
  });

  describe('with METRICS_TOKEN set', () => {
    const METRICS_TOKEN = 'metrics-scrape-token-0123456789';
    let guarded: TestApp;
    let guardedHttp: Http;
    beforeAll(async () => {
      guarded = await createTestApp({ METRICS_TOKEN });
      guardedHttp = new Http(guarded.app);
    });
    afterAll(() => guarded.close());

    it('refuses a request without a token: 401 missing_token', async () => {
      const reply = await guardedHttp.get('/metrics');
      expectError(reply, 401, 'missing_token');
      expect(reply.text).not.toContain('gatehouse_');
    });

    it('refuses a wrong token, another scheme or an access token: 401 invalid_token', async () => {
      const user = await guardedHttp.signup();
      for (const headers of [
        { authorization: 'Bearer wrong-token' },
        { authorization: `Bearer ${METRICS_TOKEN}x` },
        { authorization: `Bearer ${METRICS_TOKEN.slice(0, -1)}` },
        { authorization: `Basic ${Buffer.from(`x:${METRICS_TOKEN}`).toString('base64')}` },
        { authorization: `Bearer ${user.accessToken}` },
      ]) {
        const reply = await guardedHttp.get('/metrics', { headers });
        expectError(reply, 401, 'invalid_token');
        expect(reply.text).not.toContain('gatehouse_');
      }
    });

    it('serves the metrics with the right token', async () => {
      const samples = await scrape(guardedHttp, METRICS_TOKEN);
      expect(find(samples, 'gatehouse_auth_events_total')).toHaveLength(AUTH_EVENTS.length);
      // The refusals above were counted too.
      expect(
        valueOf(samples, 'gatehouse_http_requests_total', {
          method: 'GET',
          route: '/metrics',
          status: '401',
        }),
      ).toBeGreaterThanOrEqual(6);
    });
  });
});
