import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApp, patchUser, ROOT_EMAIL, ROOT_PASSWORD, signinRoot } from '../support/admin.js';
import { type AuthBody, expectError, GOOD_PASSWORD, Http, type Reply, uniqueEmail } from '../support/http.js';
import { exercised } from '../support/openapi-validation.js';
import { createTestApp, type TestApp } from '../support/test-app.js';
import { NO_THROTTLE } from '../support/tokens.js';

/**
 * Drives every operation of the OpenAPI document to each status it documents,
 * through `Http` (which validates every response against the document), then
 * checks that nothing documented was left unexercised: a status documented but
 * never sent is as wrong as one sent but never documented.
 */

const METRICS_TOKEN = 'coverage-metrics-token-0123456789';

/** Statuses no request of this file produces, and why. */
const NOT_DRIVEN_HERE: Record<string, string> = {
  500: 'an unexpected failure (a bug): test/http/errors.test.ts provokes one and the harness checks it',
};

interface Operation {
  method: string;
  template: string;
  statuses: string[];
  security: Record<string, string[]>[];
  hasBody: boolean;
}

/** A concrete URL for a documented path: an unknown UUID for each parameter. */
const fill = (template: string) => template.replace(/\{\w+\}/g, () => randomUUID());

describe('the OpenAPI document, operation by operation', () => {
  let t: TestApp;
  let http: Http;
  let operations: Operation[];
  let root: AuthBody;
  let plain: AuthBody;

  beforeAll(async () => {
    t = await createAdminApp({ METRICS_TOKEN });
    http = new Http(t.app);
    const doc = (await http.get('/docs/openapi.json')).body;
    operations = Object.entries<Record<string, any>>(doc.paths).flatMap(([template, item]) =>
      Object.entries<any>(item).map(([method, operation]) => ({
        method: method.toUpperCase(),
        template,
        statuses: Object.keys(operation.responses),
        security: operation.security ?? doc.security,
        hasBody: ['POST', 'PATCH', 'PUT', 'DELETE'].includes(method.toUpperCase()),
      })),
    );
    root = await signinRoot(http);
    plain = await http.signup();
  });
  afterAll(() => t.close());

  const protectedOperations = () =>
    operations.filter((op) => op.security.length > 0 && op.security.every((r) => Object.keys(r).length > 0));

  it('drives the success of every operation', async () => {
    const expectStatus = (reply: Reply, status: number) => expect(reply.status, reply.text).toBe(status);
    // Public entry points.
    const user = await http.signup();
    expectStatus(
      await http.post('/auth/signin', { body: { email: user.email, password: GOOD_PASSWORD } }),
      200,
    );
    // The body form of refresh, then the header form (no body).
    const refreshed = await http.post('/auth/refresh', { body: { refreshToken: user.refreshToken } });
    expectStatus(refreshed, 200);
    expectStatus(await http.post('/auth/refresh', { token: refreshed.body.refreshToken }), 200);
    expectStatus(await http.get('/.well-known/jwks.json'), 200);
    expectStatus(await http.get('/.well-known/oauth-authorization-server'), 200);
    expectStatus(await http.get('/.well-known/openid-configuration'), 200);
    expectStatus(await http.get('/health/live'), 200);
    expectStatus(await http.get('/health/ready'), 200);
    expectStatus(await http.get('/metrics', { token: METRICS_TOKEN }), 200);

    // The signed-in user.
    const token = plain.accessToken;
    expectStatus(await http.get('/users/me', { token }), 200);
    const second = await http.signin(plain.email);
    const sessions = await http.get('/auth/sessions?limit=1', { token });
    expectStatus(sessions, 200);
    expect(sessions.headers.link, 'a next page').toMatch(/rel="next"/);
    const other = (await http.get('/auth/sessions', { token })).body.find(
      (s: { current: boolean }) => !s.current,
    );
    expectStatus(await http.delete(`/auth/sessions/${other.id}`, { token }), 204);
    expect(second).toBeDefined();
    expectStatus(
      await http.post('/auth/password', {
        token,
        body: { currentPassword: GOOD_PASSWORD, newPassword: 'another long passphrase 2' },
      }),
      204,
    );
    const a = await http.signup();
    expectStatus(await http.post('/auth/signout', { token: a.accessToken }), 204);
    const b = await http.signup();
    expectStatus(await http.post('/auth/signout/all', { token: b.accessToken }), 204);

    // The admin.
    const admin = root.accessToken;
    expectStatus(await http.get('/users?limit=1', { token: admin }), 200);
    expectStatus(await http.get(`/users/${user.id}`, { token: admin }), 200);
    await patchUser(http, admin, user.id, { disabled: false });
    expectStatus(await http.delete(`/users/${user.id}/sessions`, { token: admin }), 204);
    expectStatus(await http.delete(`/users/${user.id}`, { token: admin }), 204);
    expectStatus(await http.get('/audit-events?limit=1', { token: admin }), 200);
    const rotated = await http.post('/keys/rotate', { token: admin });
    expectStatus(rotated, 201);
    expectError(await http.post('/keys/rotate', { token: admin }), 409, 'rotation_pending');
    expectStatus(
      await http.post(`/keys/${rotated.body.kid}/revoke`, { token: admin, body: { endSessions: true } }),
      200,
    );
  });

  it('refuses every protected operation without a token (401)', async () => {
    for (const op of protectedOperations()) {
      const reply = await http.request(op.method, fill(op.template));
      expect(reply.status, `${op.method} ${op.template}`).toBe(401);
    }
    expectError(await http.get('/metrics'), 401, 'missing_token');
    expectError(await http.post('/auth/refresh', { token: 'gh_rt_unknown' }), 401, 'invalid_refresh_token');
    expectError(
      await http.post('/auth/signin', { body: { email: plain.email, password: 'wrong password!' } }),
      401,
      'invalid_credentials',
    );
  });

  it('refuses a plain user every operation that needs a permission (403), and a disabled account its signin', async () => {
    for (const op of operations.filter(
      (o) => o.statuses.includes('403') && !o.template.startsWith('/auth/'),
    )) {
      expectError(
        await http.request(op.method, fill(op.template), { token: plain.accessToken }),
        403,
        'forbidden',
      );
    }
    const disabled = await http.signup();
    await patchUser(http, root.accessToken, disabled.id, { disabled: true });
    expectError(
      await http.post('/auth/signin', { body: { email: disabled.email, password: GOOD_PASSWORD } }),
      403,
      'account_disabled',
    );
  });

  it('refuses a malformed (400), an over-large (413) and a non-JSON (415) body on every body method', async () => {
    for (const op of operations.filter((o) => o.hasBody)) {
      const url = fill(op.template);
      const label = `${op.method} ${op.template}`;
      const json = { 'content-type': 'application/json' };
      const malformed = await http.request(op.method, url, { payload: '{"a":', headers: json });
      expect(malformed.status, label).toBe(400);
      const large = await http.request(op.method, url, {
        payload: `"${'x'.repeat(17 * 1024)}"`,
        headers: json,
      });
      expect(large.status, label).toBe(413);
      const text = await http.request(op.method, url, {
        payload: 'hello',
        headers: { 'content-type': 'text/plain' },
      });
      expect(text.status, label).toBe(415);
    }
  });

  it('answers 400 to bad parameters, 404 to unknown ids and 409 to conflicts', async () => {
    const admin = root.accessToken;
    for (const url of [
      '/users?limit=0',
      '/audit-events?limit=0',
      '/auth/sessions?limit=0',
      '/users/not-a-uuid',
    ]) {
      expectError(
        await http.get(url, { token: url.startsWith('/auth') ? plain.accessToken : admin }),
        400,
        'validation_failed',
      );
    }
    expectError(await http.post('/auth/refresh'), 400, 'validation_failed');
    for (const op of operations.filter((o) => o.statuses.includes('404'))) {
      const token = op.template.startsWith('/auth/') ? plain.accessToken : admin;
      const body = op.method === 'PATCH' ? { disabled: false } : undefined;
      expectError(await http.request(op.method, fill(op.template), { token, body }), 404, 'not_found');
    }
    expectError(
      await http.post('/auth/signup', { body: { email: plain.email, password: GOOD_PASSWORD } }),
      409,
      'email_taken',
    );
    expectError(
      await http.patch(`/users/${root.id}`, { token: admin, body: { roles: ['user'] } }),
      409,
      'last_admin',
    );
    expectError(await http.delete(`/users/${root.id}`, { token: admin }), 409, 'last_admin');
  });

  it('answers 429 on every /auth route once the per-minute limit is spent', async () => {
    const limited = await createTestApp({ RATE_LIMIT_PER_MINUTE: '1' });
    try {
      const limitedHttp = new Http(limited.app);
      await limitedHttp.get('/auth/sessions'); // the one request of the minute (401: no token)
      for (const op of operations.filter((o) => o.statuses.includes('429'))) {
        expectError(await limitedHttp.request(op.method, fill(op.template)), 429, 'too_many_requests');
      }
    } finally {
      await limited.close();
    }
  });

  it('answers 503 on every operation that needs the database once it is gone', async () => {
    const down = await createTestApp({
      ...NO_THROTTLE,
      ADMIN_EMAIL: ROOT_EMAIL,
      ADMIN_PASSWORD: ROOT_PASSWORD,
    });
    try {
      const downHttp = new Http(down.app);
      const admin = await signinRoot(downHttp);
      await down.connection.close();
      for (const op of operations.filter((o) => o.statuses.includes('503'))) {
        const body =
          op.template === '/auth/signup' || op.template === '/auth/signin'
            ? { email: uniqueEmail(), password: GOOD_PASSWORD }
            : op.template === '/auth/refresh'
              ? { refreshToken: admin.refreshToken }
              : op.template === '/auth/password'
                ? { currentPassword: GOOD_PASSWORD, newPassword: 'another long passphrase 3' }
                : op.method === 'PATCH'
                  ? { disabled: false }
                  : undefined;
        // The refresh token goes in the body here: no access token beside it.
        const token = op.template === '/auth/refresh' ? undefined : admin.accessToken;
        const reply = await downHttp.request(op.method, fill(op.template), { token, body });
        expectError(reply, 503, 'unavailable');
      }
    } finally {
      await down.close();
    }
  });

  it('exercised every documented operation with every status it documents', () => {
    const missing: string[] = [];
    for (const op of operations) {
      const seen = exercised.get(`${op.method} ${op.template}`) ?? new Set<number>();
      for (const status of op.statuses) {
        if (!seen.has(Number(status)) && !(status in NOT_DRIVEN_HERE)) {
          missing.push(`${op.method} ${op.template} ${status}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });
});
