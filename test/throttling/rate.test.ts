import { count } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { mailOutbox } from '../../src/database/schema.js';
import { expectError, GOOD_PASSWORD, type Reply, uniqueEmail } from '../support/http.js';
import { type TestApp, useTestApp } from '../support/test-app.js';

/** One request from a chosen socket address (Fastify injection's `remoteAddress`). */
async function call(
  t: TestApp,
  method: 'GET' | 'POST',
  url: string,
  ip: string,
  options: { body?: unknown; token?: string } = {},
): Promise<Reply> {
  const response = await t.app.inject({
    method,
    url,
    remoteAddress: ip,
    ...(options.body !== undefined ? { payload: options.body as object } : {}),
    ...(options.token ? { headers: { authorization: `Bearer ${options.token}` } } : {}),
  });
  let body: unknown;
  try {
    body = response.body === '' ? undefined : JSON.parse(response.body);
  } catch {
    body = response.body;
  }
  return { status: response.statusCode, body, headers: response.headers, text: response.body };
}

/** Mail queued in all, whatever became of it. */
async function outboxSize(t: TestApp): Promise<number> {
  const [row] = await t.connection.db.select({ n: count() }).from(mailOutbox);
  return row?.n ?? 0;
}

function expectRateLimited(reply: Reply): void {
  expectError(reply, 429, 'too_many_requests');
  expect(Object.keys(reply.body).sort()).toEqual(['code', 'error', 'message', 'statusCode']);
  const retryAfter = Number(reply.headers['retry-after']);
  expect(Number.isInteger(retryAfter), String(reply.headers['retry-after'])).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
}

describe('RATE_LIMIT_PER_MINUTE on /auth/* (in-memory counters)', () => {
  const { t } = useTestApp({ RATE_LIMIT_PER_MINUTE: '5', SIGNIN_MAX_FAILURES: '1000' });

  it('counts every /auth route together, unauthenticated and invalid requests included; the 6th is 429', async () => {
    const ip = '198.51.100.1';
    const email = uniqueEmail();
    // Five requests to five routes, none of them successful.
    expect((await call(t, 'POST', '/auth/signin', ip, { body: { email: 'not-an-email' } })).status).toBe(400);
    expect((await call(t, 'POST', '/auth/refresh', ip, { body: {} })).status).toBe(400);
    expect((await call(t, 'POST', '/auth/signout', ip)).status).toBe(401);
    expect((await call(t, 'GET', '/auth/sessions', ip, { token: 'not.a.token' })).status).toBe(401);
    expect(
      (await call(t, 'POST', '/auth/signin', ip, { body: { email, password: 'wrong password' } })).status,
    ).toBe(401);

    // The sixth is refused before it is handled: the account is not created.
    expectRateLimited(
      await call(t, 'POST', '/auth/signup', ip, { body: { email, password: GOOD_PASSWORD } }),
    );
    expectRateLimited(await call(t, 'POST', '/auth/signout', ip));
    const elsewhere = await call(t, 'POST', '/auth/signup', '198.51.100.99', {
      body: { email, password: GOOD_PASSWORD },
    });
    expect(elsewhere.status, elsewhere.text).toBe(201);
  });

  it('counts the public mail routes too: a throttled forgot-password queues no mail', async () => {
    const ip = '198.51.100.60';
    const token = `gh_lt_${'A'.repeat(43)}`;
    expect((await call(t, 'POST', '/auth/email/verify/confirm', ip, { body: { token } })).status).toBe(400);
    expect(
      (await call(t, 'POST', '/auth/password/reset', ip, { body: { token, newPassword: GOOD_PASSWORD } }))
        .status,
    ).toBe(400);
    expect((await call(t, 'POST', '/auth/email/confirm', ip, { body: { token } })).status).toBe(400);
    for (let i = 0; i < 2; i++) {
      const forgot = await call(t, 'POST', '/auth/password/forgot', ip, { body: { email: uniqueEmail() } });
      expect(forgot.status, forgot.text).toBe(202);
    }
    const queued = await outboxSize(t);
    expectRateLimited(await call(t, 'POST', '/auth/password/forgot', ip, { body: { email: uniqueEmail() } }));
    expectRateLimited(
      await call(t, 'POST', '/auth/password/reset', ip, { body: { token, newPassword: GOOD_PASSWORD } }),
    );
    expectRateLimited(await call(t, 'POST', '/auth/email/confirm', ip, { body: { token } }));
    expect(await outboxSize(t)).toBe(queued);
  });

  it('a second client is unaffected', async () => {
    const ip = '198.51.100.2';
    for (let i = 0; i < 5; i++) expect((await call(t, 'POST', '/auth/signout', ip)).status).toBe(401);
    expectRateLimited(await call(t, 'POST', '/auth/signout', ip));
    expect((await call(t, 'POST', '/auth/signout', '198.51.100.3')).status).toBe(401);
  });

  it('does not limit /users/me, /health/* or the JWKS', async () => {
    const ip = '198.51.100.4';
    const signup = await call(t, 'POST', '/auth/signup', ip, {
      body: { email: uniqueEmail(), password: GOOD_PASSWORD },
    });
    expect(signup.status, signup.text).toBe(201);
    const token = (signup.body as { accessToken: string }).accessToken;
    for (let i = 0; i < 4; i++) await call(t, 'POST', '/auth/signout', ip, { token: 'bad' });
    expectRateLimited(await call(t, 'POST', '/auth/signout', ip, { token }));

    for (let i = 0; i < 10; i++) {
      expect((await call(t, 'GET', '/users/me', ip, { token })).status).toBe(200);
      expect((await call(t, 'GET', '/health/live', ip)).status).toBe(200);
      expect((await call(t, 'GET', '/.well-known/jwks.json', ip)).status).toBe(200);
    }
    expect((await call(t, 'GET', '/health/ready', ip)).status).toBe(200);
  });

  it('IPv6 clients in one /64 share the limit; another /64 does not', async () => {
    for (let i = 1; i <= 5; i++) {
      expect((await call(t, 'POST', '/auth/signout', `2001:db8:bb:1::${i}`)).status).toBe(401);
    }
    expectRateLimited(await call(t, 'POST', '/auth/signout', '2001:db8:bb:1:abcd::1'));
    expect((await call(t, 'POST', '/auth/signout', '2001:db8:bb:2::1')).status).toBe(401);
  });

  it('without TRUST_PROXY, a forged X-Forwarded-For does not make a new client', async () => {
    const ip = '198.51.100.5';
    for (let i = 0; i < 5; i++) expect((await call(t, 'POST', '/auth/signout', ip)).status).toBe(401);
    const forged = await t.app.inject({
      method: 'POST',
      url: '/auth/signout',
      remoteAddress: ip,
      headers: { 'x-forwarded-for': '203.0.113.9' },
    });
    expect(forged.statusCode).toBe(429);
  });
});
