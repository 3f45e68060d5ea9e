/**
 * Account enumeration and brute force (ASVS 5.0 6.3.8, 6.3.1, 6.1.1, 2.4.1).
 *
 * Already covered elsewhere, not repeated here:
 * - byte-identical 401 bodies for unknown email and wrong password: auth/signup-signin;
 * - SIGNIN_MAX_FAILURES per email and client, Retry-After, no argon2 when throttled, unknown
 *   emails throttled alike, parallel attempts, IPv6 /64 and IPv4-mapped at the socket, forged
 *   X-Forwarded-For without TRUST_PROXY, TRUST_PROXY with one proxy (its X-Forwarded-For decides;
 *   an untrusted peer's is ignored): throttling/signin;
 * - RATE_LIMIT_PER_MINUTE over every /auth route, per client, IPv6 /64 at the socket, forged
 *   X-Forwarded-For without TRUST_PROXY: throttling/rate;
 * - the same limits shared by instances through Redis: throttling/redis.
 *
 * Added here:
 * - every kind of failed signin (unknown email, wrong password, other casing, disabled account,
 *   deleted account) answers the same status, body bytes and headers (but x-request-id/date);
 * - equal work: an unknown email costs one argon2id verification of the same parameters as a
 *   wrong password (checked on the hashes verified, not with a timer, so it holds on a busy machine);
 * - the per-minute limit and the failure limit behind trusted proxies: a client rotating its own
 *   X-Forwarded-For entries is still counted as itself; a chain of trusted proxies; an untrusted
 *   peer rotating X-Forwarded-For while TRUST_PROXY is set; IPv6 clients in one /64 behind a
 *   proxy (an IPv6 proxy too); textual variants of one address or /64.
 */
import { eq } from 'drizzle-orm';
import { describe, expect, it, vi } from 'vitest';
import { users } from '../../src/database/schema.js';
import { PasswordHasher } from '../../src/passwords/password-hasher.service.js';
import { expectError, GOOD_PASSWORD, type Reply, uniqueEmail } from '../support/http.js';
import { type TestApp, useTestApp } from '../support/test-app.js';
import { NO_THROTTLE } from '../support/tokens.js';

const WRONG = 'not the right password at all';

/** One request from a chosen socket address (Fastify injection's `remoteAddress`). */
async function call(
  t: TestApp,
  method: 'GET' | 'POST',
  url: string,
  from: { ip: string; forwardedFor?: string },
  body?: Record<string, unknown>,
): Promise<Reply> {
  const response = await t.app.inject({
    method,
    url,
    remoteAddress: from.ip,
    headers: from.forwardedFor === undefined ? {} : { 'x-forwarded-for': from.forwardedFor },
    ...(body === undefined ? {} : { payload: body }),
  });
  let parsed: unknown;
  try {
    parsed = response.body === '' ? undefined : JSON.parse(response.body);
  } catch {
    parsed = response.body;
  }
  return { status: response.statusCode, body: parsed, headers: response.headers, text: response.body };
}

function expectThrottled(reply: Reply): void {
  expectError(reply, 429, 'too_many_requests');
  expect(Number(reply.headers['retry-after'])).toBeGreaterThanOrEqual(1);
}

describe('unknown email vs wrong password: nothing tells them apart', () => {
  const { t, http } = useTestApp(NO_THROTTLE);

  it('same status, body bytes and headers (but x-request-id and date) for every kind of failed signin', async () => {
    const known = await http.signup();
    const disabled = await http.signup();
    await t.connection.db.update(users).set({ disabledAt: new Date() }).where(eq(users.id, disabled.id));
    const deleted = await http.signup();
    await t.connection.db.delete(users).where(eq(users.id, deleted.id));

    const attempts: [string, string, string][] = [
      ['wrong password', known.email, WRONG],
      ['unknown email', uniqueEmail('nobody'), WRONG],
      ['unknown email, right password of another account', uniqueEmail('nobody'), GOOD_PASSWORD],
      [
        'unknown email of 254 characters',
        `${'n'.repeat(60)}@${'d'.repeat(60)}.${'e'.repeat(60)}.${'f'.repeat(60)}.example.io`,
        WRONG,
      ],
      ['wrong password, email in other case and padded', `  ${known.email.toUpperCase()} `, WRONG],
      ['disabled account, wrong password', disabled.email, WRONG],
      ['deleted account, its old password', deleted.email, GOOD_PASSWORD],
    ];
    expect(attempts[3]![1]).toHaveLength(254);
    const replies: [string, Reply][] = [];
    for (const [label, email, password] of attempts) {
      replies.push([label, await http.post('/auth/signin', { body: { email, password } })]);
    }
    const [, reference] = replies[0]!;
    expectError(reference, 401, 'invalid_credentials');
    const comparable = (reply: Reply) => {
      const { 'x-request-id': requestId, date, ...rest } = reply.headers;
      expect(requestId).toEqual(expect.any(String));
      expect(date).toEqual(expect.any(String));
      return rest;
    };
    for (const [label, reply] of replies) {
      expect(reply.status, label).toBe(401);
      expect(reply.text, label).toBe(reference.text);
      expect(comparable(reply), label).toEqual(comparable(reference));
    }
  });

  // Equal work, checked structurally (timing belongs to the bench; a timed test would need an idle machine): both paths run one
  // argon2id verification with the same parameters, so neither answers measurably faster.
  it('verifies one argon2id hash of the same cost for an unknown email as for a wrong password', async () => {
    const user = await http.signup();
    const hasher = t.app.get(PasswordHasher);
    const verified: string[] = [];
    const original = hasher.verify.bind(hasher);
    const spy = vi.spyOn(hasher, 'verify').mockImplementation((hash, ...rest) => {
      verified.push(hash);
      return original(hash, ...rest);
    });
    try {
      for (const email of [user.email, uniqueEmail('ghost')]) {
        const reply = await http.post('/auth/signin', { body: { email, password: 'wrong wrong wrong' } });
        expectError(reply, 401, 'invalid_credentials');
      }
    } finally {
      spy.mockRestore();
    }
    expect(verified).toHaveLength(2);
    const [stored] = await t.connection.db
      .select({ hash: users.passwordHash })
      .from(users)
      .where(eq(users.id, user.id));
    const cost = (hash: string) => hash.split('$').slice(0, 4).join('$'); // $argon2id$v=19$m=…,t=…,p=…
    expect(verified[0]).toBe(stored!.hash);
    expect(verified[1]).not.toBe(stored!.hash);
    expect(cost(verified[1]!)).toBe(cost(stored!.hash));
    expect(cost(stored!.hash)).toMatch(/^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+$/);
  });
});

const PROXY = '127.0.0.1';
const INNER_PROXY = '10.1.2.3';
const V6_PROXY = '2001:db8:ffff::1';
const TRUST_PROXY = `${PROXY},10.0.0.0/8,2001:db8:ffff::/48`;
type From = { ip: string; forwardedFor?: string };

describe('RATE_LIMIT_PER_MINUTE behind trusted proxies (TRUST_PROXY) and for IPv6', () => {
  const { t } = useTestApp({ RATE_LIMIT_PER_MINUTE: '5', SIGNIN_MAX_FAILURES: '1000', TRUST_PROXY });

  const signout = (from: From) => call(t, 'POST', '/auth/signout', from);

  /** Five /auth requests (the per-minute limit) from `from(i)`, each answered, none throttled. */
  async function spendRateLimit(from: (i: number) => From) {
    for (let i = 0; i < 5; i++) expectError(await signout(from(i)), 401, 'missing_token');
  }

  it('a client rotating its own X-Forwarded-For entries in front of the proxy is still counted as itself', async () => {
    // The proxy appends the address it saw; whatever the client put before it is the client's to forge.
    const client = '203.0.113.10';
    await spendRateLimit((i) => ({ ip: PROXY, forwardedFor: `198.18.0.${i + 1}, ${client}` }));
    expectThrottled(await signout({ ip: PROXY, forwardedFor: `198.18.0.99, ${client}` }));
    expectThrottled(await signout({ ip: PROXY, forwardedFor: client }));
    // Another client behind the same proxy has its own count.
    expectError(await signout({ ip: PROXY, forwardedFor: '203.0.113.11' }), 401, 'missing_token');
  });

  it('behind a chain of trusted proxies, the right-most untrusted address is the client', async () => {
    const client = '203.0.113.20';
    await spendRateLimit((i) => ({ ip: PROXY, forwardedFor: `192.0.2.${i + 1}, ${client}, ${INNER_PROXY}` }));
    expectThrottled(await signout({ ip: PROXY, forwardedFor: `${client}, 10.9.9.9` }));
    expectError(
      await signout({ ip: PROXY, forwardedFor: `${client}, 203.0.113.21, ${INNER_PROXY}` }),
      401,
      'missing_token',
    );
  });

  it('with TRUST_PROXY set, an untrusted peer rotating X-Forwarded-For (even naming a trusted proxy) is counted as its socket address', async () => {
    const peer = '198.51.100.30';
    await spendRateLimit((i) => ({ ip: peer, forwardedFor: `203.0.113.${100 + i}` }));
    expectThrottled(await signout({ ip: peer, forwardedFor: '203.0.113.200' }));
    expectThrottled(await signout({ ip: peer, forwardedFor: `203.0.113.201, ${PROXY}` }));
    expectThrottled(await signout({ ip: peer, forwardedFor: PROXY }));
  });

  it('IPv6 clients behind a proxy: one /64 shares the limit, another /64 does not (also through an IPv6 proxy)', async () => {
    await spendRateLimit((i) => ({
      ip: i % 2 ? PROXY : V6_PROXY,
      forwardedFor: `2001:db8:cc:1::${i + 1}`,
    }));
    expectThrottled(await signout({ ip: V6_PROXY, forwardedFor: '2001:db8:cc:1:ffff:ffff:ffff:fffe' }));
    expectThrottled(await signout({ ip: PROXY, forwardedFor: `2001:db8:cc:1::abcd, ${V6_PROXY}` }));
    expectError(await signout({ ip: PROXY, forwardedFor: '2001:db8:cc:2::1' }), 401, 'missing_token');
  });

  it('spellings of an /auth path that reach the same route (dot segment, percent-encoding, query) count together', async () => {
    const from = { ip: '198.51.100.50' };
    for (const url of [
      '/auth/signout',
      '/auth/./signout',
      '/auth/%73ignout',
      '/%61uth/signout',
      '/auth/signout?x=1',
    ]) {
      expectError(await call(t, 'POST', url, from), 401, 'missing_token');
    }
    expectThrottled(await call(t, 'POST', '/auth/signout', from));
    expectThrottled(await call(t, 'POST', '/auth/%73ignout', from));
  });

  it('textual variants of one IPv6 /64 (zeros, case, full form) and of one IPv4 address (IPv4-mapped, hex-mapped) share the limit', async () => {
    await spendRateLimit(
      (i) =>
        [
          { ip: '2001:db8:dd:1::1' },
          { ip: '2001:0DB8:00DD:0001:0000:0000:0000:0002' },
          { ip: '2001:db8:dd:1:0:0:0:3' },
          { ip: PROXY, forwardedFor: '2001:DB8:DD:1::4' },
          { ip: PROXY, forwardedFor: '2001:db8:dd:0001:abcd::5' },
        ][i]!,
    );
    expectThrottled(await signout({ ip: '2001:db8:dd:1::6' }));

    await spendRateLimit(
      (i) =>
        [
          { ip: '198.51.100.40' },
          { ip: '::ffff:198.51.100.40' },
          { ip: '::ffff:c633:6428' },
          { ip: PROXY, forwardedFor: '::ffff:198.51.100.40' },
          { ip: PROXY, forwardedFor: '198.51.100.40' },
        ][i]!,
    );
    expectThrottled(await signout({ ip: '::FFFF:c633:6428' }));
    expectError(await signout({ ip: '198.51.100.41' }), 401, 'missing_token');
  });
});

describe('SIGNIN_MAX_FAILURES (per email and client) behind trusted proxies (TRUST_PROXY) and for IPv6', () => {
  const { t, http } = useTestApp({ RATE_LIMIT_PER_MINUTE: '1000000', SIGNIN_MAX_FAILURES: '3', TRUST_PROXY });

  const signin = (email: string, password: string, from: From) =>
    call(t, 'POST', '/auth/signin', from, { email, password });

  it('a client rotating its own X-Forwarded-For entries is still counted as itself; the right password is then refused too', async () => {
    const user = await http.signup(uniqueEmail('bf-proxy'), GOOD_PASSWORD);
    const client = '203.0.113.30';
    for (let i = 0; i < 3; i++) {
      expectError(
        await signin(user.email, WRONG, { ip: PROXY, forwardedFor: `198.18.1.${i + 1}, ${client}` }),
        401,
        'invalid_credentials',
      );
    }
    expectThrottled(
      await signin(user.email, GOOD_PASSWORD, { ip: PROXY, forwardedFor: `198.18.1.99, ${client}` }),
    );
    expectThrottled(
      await signin(user.email, GOOD_PASSWORD, { ip: PROXY, forwardedFor: `${client}, ${INNER_PROXY}` }),
    );
    // The account itself is not locked: the owner, from elsewhere, signs in.
    const owner = await signin(user.email, GOOD_PASSWORD, { ip: PROXY, forwardedFor: '203.0.113.31' });
    expect(owner.status, owner.text).toBe(200);
    // The session records the real client, not the forged entries.
    const sessions = await http.get('/auth/sessions', { token: owner.body.accessToken });
    expect(sessions.body.find((s: { current: boolean }) => s.current)?.ip).toBe('203.0.113.31');
  });

  it('IPv6 clients behind a proxy: one /64 shares the failure count, another /64 does not', async () => {
    const user = await http.signup(uniqueEmail('bf-v6'), GOOD_PASSWORD);
    for (let i = 0; i < 3; i++) {
      expectError(
        await signin(user.email, WRONG, { ip: V6_PROXY, forwardedFor: `2001:db8:ee:1::${i + 1}` }),
        401,
        'invalid_credentials',
      );
    }
    expectThrottled(
      await signin(user.email, GOOD_PASSWORD, { ip: V6_PROXY, forwardedFor: '2001:db8:ee:1:8000::1' }),
    );
    expectThrottled(await signin(user.email, GOOD_PASSWORD, { ip: '2001:db8:ee:1::77' }));
    const elsewhere = await signin(user.email, GOOD_PASSWORD, {
      ip: V6_PROXY,
      forwardedFor: '2001:db8:ee:2::1',
    });
    expect(elsewhere.status, elsewhere.text).toBe(200);
  });

  it('with TRUST_PROXY set, an untrusted IPv6 peer forging X-Forwarded-For is counted as its /64', async () => {
    const user = await http.signup(uniqueEmail('bf-forged-v6'), GOOD_PASSWORD);
    for (let i = 0; i < 3; i++) {
      expectError(
        await signin(user.email, WRONG, {
          ip: `2001:db8:ef:1::${i + 1}`,
          forwardedFor: `203.0.113.${50 + i}`,
        }),
        401,
        'invalid_credentials',
      );
    }
    expectThrottled(
      await signin(user.email, GOOD_PASSWORD, { ip: '2001:db8:ef:1::99', forwardedFor: '203.0.113.99' }),
    );
  });
});
