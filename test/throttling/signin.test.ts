import { and, eq, sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, sessions } from '../../src/database/schema.js';
import { PasswordHasher } from '../../src/passwords/password-hasher.service.js';
import { expectError, GOOD_PASSWORD, type Reply, uniqueEmail } from '../support/http.js';
import { type TestApp, useTestApp } from '../support/test-app.js';

const WRONG = 'not the right password at all';
/** Throttling of signins only: the per-minute limit is out of the way. */
const ENV = { SIGNIN_MAX_FAILURES: '5', RATE_LIMIT_PER_MINUTE: '1000000' };

/** POST /auth/signin from a chosen socket address (Fastify injection's `remoteAddress`). */
async function signin(
  t: TestApp,
  email: string,
  password: string,
  from: { ip?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const response = await t.app.inject({
    method: 'POST',
    url: '/auth/signin',
    payload: { email, password },
    headers: from.headers,
    ...(from.ip ? { remoteAddress: from.ip } : {}),
  });
  return {
    status: response.statusCode,
    body: response.body === '' ? undefined : JSON.parse(response.body),
    headers: response.headers,
    text: response.body,
  };
}

/** `times` wrong-password signins, each answered 401. */
async function failTimes(t: TestApp, email: string, times: number, from: Parameters<typeof signin>[3] = {}) {
  for (let i = 0; i < times; i++) {
    expectError(await signin(t, email, WRONG, from), 401, 'invalid_credentials');
  }
}

function expectThrottled(reply: Reply, windowSeconds = 900): number {
  expectError(reply, 429, 'too_many_requests');
  expect(Object.keys(reply.body).sort()).toEqual(['code', 'error', 'message', 'statusCode']);
  expect(reply.body.error).toBe('Too Many Requests');
  const retryAfter = Number(reply.headers['retry-after']);
  expect(Number.isInteger(retryAfter), String(reply.headers['retry-after'])).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(windowSeconds);
  return retryAfter;
}

async function sessionCount(t: TestApp, userId: string): Promise<number> {
  const [row] = await t.connection.db
    .select({ n: sql<number>`count(*)::int` })
    .from(sessions)
    .where(eq(sessions.userId, userId));
  return row!.n;
}

describe('brute-force protection on POST /auth/signin (in-memory counters)', () => {
  const { t, http } = useTestApp(ENV);
  let hasher: PasswordHasher;

  beforeAll(async () => {
    hasher = t.app.get(PasswordHasher);
  });

  it('after 5 failures the 6th attempt, with the right password, is 429 with Retry-After; no session, no argon2', async () => {
    const user = await http.signup();
    const ip = '198.51.100.1';
    await failTimes(t, user.email, 5, { ip });
    const hashesBefore = hasher.operationsStarted;

    const reply = await signin(t, user.email, GOOD_PASSWORD, { ip });
    const retryAfter = expectThrottled(reply);
    expect(retryAfter).toBeGreaterThan(800); // the window (15 min) started a moment ago
    expect(reply.text).not.toContain(GOOD_PASSWORD);
    expect(hasher.operationsStarted).toBe(hashesBefore);
    expect(await sessionCount(t, user.id)).toBe(1); // the signup's only

    // Still throttled, still no password hashing.
    expectThrottled(await signin(t, user.email, WRONG, { ip }));
    expect(hasher.operationsStarted).toBe(hashesBefore);
  });

  it('records an audit event "throttled" with the email and client address, never the password', async () => {
    const user = await http.signup();
    const ip = '198.51.100.2';
    await failTimes(t, user.email, 5, { ip });
    expectThrottled(await signin(t, user.email, GOOD_PASSWORD, { ip }));

    const events = await t.connection.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.type, 'throttled'), eq(auditEvents.userId, user.id)));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      actorId: null,
      ip,
      detail: { email: user.email, reason: 'signin_failures', retryAfter: expect.any(Number) },
    });
    expect(JSON.stringify(events[0])).not.toContain(GOOD_PASSWORD);
    expect(t.rawLogs()).not.toContain(GOOD_PASSWORD);
  });

  it('another email from the same client, and the same email from another client, are unaffected', async () => {
    const user = await http.signup();
    const other = await http.signup();
    const ip = '198.51.100.3';
    await failTimes(t, user.email, 5, { ip });
    expectThrottled(await signin(t, user.email, GOOD_PASSWORD, { ip }));

    expect((await signin(t, other.email, GOOD_PASSWORD, { ip })).status).toBe(200);
    expectError(await signin(t, other.email, WRONG, { ip }), 401, 'invalid_credentials');
    expect((await signin(t, user.email, GOOD_PASSWORD, { ip: '198.51.100.4' })).status).toBe(200);
  });

  it('a successful signin clears the count', async () => {
    const user = await http.signup();
    const ip = '198.51.100.5';
    await failTimes(t, user.email, 4, { ip });
    expect((await signin(t, user.email, GOOD_PASSWORD, { ip })).status).toBe(200);
    await failTimes(t, user.email, 5, { ip }); // five again, the count having started over
    expectThrottled(await signin(t, user.email, GOOD_PASSWORD, { ip }));
  });

  it('counts the email trimmed and case-insensitively', async () => {
    const user = await http.signup();
    const ip = '198.51.100.6';
    const variants = [user.email, user.email.toUpperCase(), ` ${user.email} `, user.email, user.email];
    for (const email of variants)
      expectError(await signin(t, email, WRONG, { ip }), 401, 'invalid_credentials');
    expectThrottled(await signin(t, user.email.toUpperCase(), GOOD_PASSWORD, { ip }));
  });

  it('throttles an unknown email the same way (no way to tell accounts apart)', async () => {
    const ip = '198.51.100.7';
    const unknown = uniqueEmail('nobody');
    await failTimes(t, unknown, 5, { ip });
    expectThrottled(await signin(t, unknown, WRONG, { ip }));
  });

  it('parallel attempts cannot get past the limit: exactly 5 are checked, the rest are 429', async () => {
    const user = await http.signup();
    const ip = '198.51.100.8';
    const hashesBefore = hasher.operationsStarted;
    const replies = await Promise.all(Array.from({ length: 12 }, () => signin(t, user.email, WRONG, { ip })));
    expect(replies.filter((reply) => reply.status === 401)).toHaveLength(5);
    expect(replies.filter((reply) => reply.status === 429)).toHaveLength(7);
    expect(hasher.operationsStarted - hashesBefore).toBe(5);
  });

  it('without TRUST_PROXY, X-Forwarded-For is ignored: forging it does not escape the limit', async () => {
    const user = await http.signup();
    const ip = '198.51.100.9';
    for (let i = 0; i < 5; i++) {
      const forged = { ip, headers: { 'x-forwarded-for': `203.0.113.${i + 1}` } };
      expectError(await signin(t, user.email, WRONG, forged), 401, 'invalid_credentials');
    }
    const forged = { ip, headers: { 'x-forwarded-for': '203.0.113.200' } };
    expectThrottled(await signin(t, user.email, GOOD_PASSWORD, forged));
  });

  it('IPv6 clients in one /64 share a limit; another /64 does not', async () => {
    const user = await http.signup();
    for (let i = 1; i <= 5; i++) {
      expectError(
        await signin(t, user.email, WRONG, { ip: `2001:db8:aa:1::${i}` }),
        401,
        'invalid_credentials',
      );
    }
    expectThrottled(await signin(t, user.email, GOOD_PASSWORD, { ip: '2001:db8:aa:1:ffff:ffff:ffff:fffe' }));
    expect((await signin(t, user.email, GOOD_PASSWORD, { ip: '2001:db8:aa:2::1' })).status).toBe(200);
  });

  it('an IPv4-mapped IPv6 address counts as the IPv4 address', async () => {
    const user = await http.signup();
    await failTimes(t, user.email, 5, { ip: '::ffff:198.51.100.10' });
    expectThrottled(await signin(t, user.email, GOOD_PASSWORD, { ip: '198.51.100.10' }));
  });
});

describe('brute-force protection behind a trusted proxy (TRUST_PROXY=127.0.0.1)', () => {
  const { t, http } = useTestApp({ ...ENV, TRUST_PROXY: '127.0.0.1' });

  it('X-Forwarded-For from the proxy decides the client', async () => {
    const user = await http.signup();
    const viaProxy = (client: string) => ({ ip: '127.0.0.1', headers: { 'x-forwarded-for': client } });
    await failTimes(t, user.email, 5, viaProxy('203.0.113.50'));
    expectThrottled(await signin(t, user.email, GOOD_PASSWORD, viaProxy('203.0.113.50')));
    // Another client behind the same proxy is not affected...
    expect((await signin(t, user.email, GOOD_PASSWORD, viaProxy('203.0.113.51'))).status).toBe(200);
    // ...and the throttled client is recorded under its own address.
    const [event] = await t.connection.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.type, 'throttled'), eq(auditEvents.userId, user.id)));
    expect(event?.ip).toBe('203.0.113.50');
  });

  it('X-Forwarded-For from a socket that is not a trusted proxy is ignored', async () => {
    const user = await http.signup();
    const ip = '198.51.100.20';
    for (let i = 0; i < 5; i++) {
      const forged = { ip, headers: { 'x-forwarded-for': `203.0.113.${100 + i}` } };
      expectError(await signin(t, user.email, WRONG, forged), 401, 'invalid_credentials');
    }
    const forged = { ip, headers: { 'x-forwarded-for': '203.0.113.199' } };
    expectThrottled(await signin(t, user.email, GOOD_PASSWORD, forged));
  });
});
