import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { refreshCookiePolicy } from '../../src/auth/refresh-cookies.js';
import { auditEvents, refreshTokens, sessions, users } from '../../src/database/schema.js';
import { expectError, GOOD_PASSWORD, type Http, type Reply, uniqueEmail } from '../support/http.js';
import { enableMfa, passwordStep, totpAt, nextStep, useFakeClock } from '../support/mfa.js';
import { type TestApp, useTestApp } from '../support/test-app.js';
import { decodeJwt, NO_THROTTLE, REFRESH_TOKEN_SHAPE } from '../support/tokens.js';

const PUBLIC_URL = 'https://auth.example.com';
const APP_ORIGIN = 'https://app.example.com';
const COOKIE = '__Secure-gh_refresh';
const MAX_AGE = 30 * 24 * 60 * 60; // SESSION_MAX_AGE's default, 30 days

interface SetCookie {
  name: string;
  value: string;
  /** The attributes in the order sent, as `Name` or `Name=value`. */
  attributes: string[];
  maxAge: number;
}

/** The one Set-Cookie of a reply, parsed; fails the test when there is none or several. */
function setCookieOf(reply: Reply): SetCookie {
  const header = reply.headers['set-cookie'];
  expect(typeof header, `one Set-Cookie in ${JSON.stringify(reply.headers)}`).toBe('string');
  const [pair, ...attributes] = String(header).split('; ');
  const equals = pair!.indexOf('=');
  const maxAge = attributes.find((attribute) => attribute.startsWith('Max-Age='));
  return {
    name: pair!.slice(0, equals),
    value: pair!.slice(equals + 1),
    attributes,
    maxAge: Number(maxAge?.slice('Max-Age='.length)),
  };
}

const sidOf = (accessToken: string): string => decodeJwt(accessToken).payload.sid as string;

/** Everything a forged request could change: users, sessions and their tokens, and the audit log. */
async function snapshot(t: TestApp): Promise<string> {
  const { db } = t.connection;
  const rows = {
    users: await db.select({ id: users.id, updatedAt: users.updatedAt }).from(users),
    sessions: await db.select().from(sessions),
    refreshTokens: (await db.select({ sessionId: refreshTokens.sessionId }).from(refreshTokens)).length,
    audit: (await db.select({ id: auditEvents.id }).from(auditEvents)).length,
  };
  rows.users.sort((a, b) => a.id.localeCompare(b.id));
  rows.sessions.sort((a, b) => a.id.localeCompare(b.id));
  return JSON.stringify(rows);
}

/** A signup in cookie mode from a trusted origin: the tokens, the refresh token taken from its cookie. */
async function cookieSignup(http: Http, origin = APP_ORIGIN) {
  const email = uniqueEmail('cookie');
  const reply = await http.post('/auth/signup?cookie=1', {
    body: { email, password: GOOD_PASSWORD },
    headers: { origin },
  });
  expect(reply.status, reply.text).toBe(201);
  return { ...reply.body, email, reply, cookie: setCookieOf(reply) } as {
    id: string;
    accessToken: string;
    email: string;
    reply: Reply;
    cookie: SetCookie;
  };
}

const refreshWithCookie = (http: Http, token: string, headers: Record<string, string> = {}, query = '') =>
  http.post(`/auth/refresh${query}`, { headers: { cookie: `${COOKIE}=${token}`, ...headers } });

/**
 * Origins that must not pass for https://app.example.com or https://auth.example.com: absent, opaque,
 * another site, look-alikes, another scheme or port, another spelling (browsers send the canonical
 * form, so only a forger sends these), and two values joined.
 */
const UNTRUSTED_ORIGINS: [label: string, origin: string | undefined][] = [
  ['no Origin', undefined],
  ['Origin: null', 'null'],
  ['another site', 'https://evil.example.net'],
  ['a look-alike suffix', 'https://app.example.com.evil.io'],
  ["a look-alike of PUBLIC_URL's host", 'https://auth.example.com.evil.io'],
  ['a look-alike prefix', 'https://evilapp.example.com'],
  ['plain http', 'http://app.example.com'],
  ['another port', 'https://app.example.com:8443'],
  ['the default port spelt out', 'https://app.example.com:443'],
  ['upper case', 'HTTPS://APP.EXAMPLE.COM'],
  ['a trailing slash', 'https://app.example.com/'],
  ['a path', 'https://app.example.com/x'],
  ['two origins joined', 'https://app.example.com, https://evil.example.net'],
];

const originHeaders = (origin: string | undefined): Record<string, string> =>
  origin === undefined ? {} : { origin };

describe('cookie mode (https PUBLIC_URL)', () => {
  useFakeClock(); // MFA codes below come from time steps of their own
  const { t, http } = useTestApp({
    ...NO_THROTTLE,
    PUBLIC_URL,
    CORS_ORIGINS: APP_ORIGIN,
    REFRESH_REUSE_GRACE: '0',
  });

  it('signup?cookie=1 puts the refresh token in a __Secure-, HttpOnly, SameSite=Strict cookie on /auth, not in the body', async () => {
    const user = await cookieSignup(http);
    expect(user.reply.body).not.toHaveProperty('refreshToken');
    expect(Object.keys(user.reply.body).sort()).toEqual([
      'accessToken',
      'email',
      'expiresIn',
      'id',
      'roles',
      'tokenType',
    ]);
    const { cookie } = user;
    expect(cookie.name).toBe(COOKIE);
    expect(cookie.value).toMatch(REFRESH_TOKEN_SHAPE);
    expect(cookie.attributes.slice(0, 4)).toEqual(['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/auth']);
    // Until the session's absolute end: SESSION_MAX_AGE after signin (a second may have passed).
    expect(cookie.maxAge).toBeGreaterThan(MAX_AGE - 5);
    expect(cookie.maxAge).toBeLessThanOrEqual(MAX_AGE);
    expect(user.reply.headers['cache-control']).toBe('no-store');
    // The token of the cookie is the session's: it refreshes it.
    const refreshed = await refreshWithCookie(http, cookie.value, { origin: APP_ORIGIN });
    expect(refreshed.status, refreshed.text).toBe(200);
    expect(sidOf(refreshed.body.accessToken)).toBe(sidOf(user.accessToken));
  });

  it('without ?cookie=1 nothing changes: the refresh token is in the body and no cookie is set', async () => {
    const reply = await http.post('/auth/signup', {
      body: { email: uniqueEmail(), password: GOOD_PASSWORD },
      headers: { origin: 'https://evil.example.net' },
    });
    expect(reply.status, reply.text).toBe(201);
    expect(reply.body.refreshToken).toMatch(REFRESH_TOKEN_SHAPE);
    expect(reply.headers['set-cookie']).toBeUndefined();
  });

  it("accepts PUBLIC_URL's own origin as well as CORS_ORIGINS", async () => {
    const user = await cookieSignup(http, PUBLIC_URL);
    expect(user.cookie.value).toMatch(REFRESH_TOKEN_SHAPE);
  });

  it('signin?cookie=1 sets the cookie with Max-Age reaching exactly the end of the session', async () => {
    const { email } = await cookieSignup(http);
    const reply = await http.post('/auth/signin?cookie=1', {
      body: { email, password: GOOD_PASSWORD },
      headers: { origin: APP_ORIGIN },
    });
    expect(reply.status, reply.text).toBe(200);
    expect(reply.body).not.toHaveProperty('refreshToken');
    const cookie = setCookieOf(reply);
    const [session] = await t.connection.db
      .select()
      .from(sessions)
      .where(eq(sessions.id, sidOf(reply.body.accessToken)));
    const untilEnd = (session!.expiresAt.getTime() - Date.now()) / 1000;
    expect(Math.abs(cookie.maxAge - untilEnd)).toBeLessThan(5);
  });

  it('refresh with the cookie rotates it; ?cookie=1 answers with a new cookie and keeps the end of the session', async () => {
    const user = await cookieSignup(http);
    const first = await refreshWithCookie(http, user.cookie.value, { origin: APP_ORIGIN }, '?cookie=1');
    expect(first.status, first.text).toBe(200);
    expect(first.body).not.toHaveProperty('refreshToken');
    const next = setCookieOf(first);
    expect(next.name).toBe(COOKIE);
    expect(next.value).toMatch(REFRESH_TOKEN_SHAPE);
    expect(next.value).not.toBe(user.cookie.value);
    expect(next.maxAge).toBeLessThanOrEqual(user.cookie.maxAge);
    expect(next.maxAge).toBeGreaterThan(user.cookie.maxAge - 5);
    expect(sidOf(first.body.accessToken)).toBe(sidOf(user.accessToken));
    expect((await http.get('/users/me', { token: first.body.accessToken })).status).toBe(200);

    // Without ?cookie=1 the cookie still authenticates, and the new token comes in the body.
    const second = await refreshWithCookie(http, next.value, { origin: APP_ORIGIN });
    expect(second.status, second.text).toBe(200);
    expect(second.body.refreshToken).toMatch(REFRESH_TOKEN_SHAPE);
    expect(second.headers['set-cookie']).toBeUndefined();
  });

  it('detects reuse through the cookie: a retired cookie revokes the whole session', async () => {
    const user = await cookieSignup(http);
    const rotated = await refreshWithCookie(http, user.cookie.value, { origin: APP_ORIGIN }, '?cookie=1');
    expect(rotated.status, rotated.text).toBe(200);
    // REFRESH_REUSE_GRACE=0: the retired cookie (a stolen copy, say) is reuse at once.
    const reused = await refreshWithCookie(http, user.cookie.value, { origin: APP_ORIGIN }, '?cookie=1');
    expectError(reused, 401, 'refresh_token_reused');
    expect(reused.headers['set-cookie']).toBeUndefined();
    expect(reused.headers['www-authenticate']).toMatch(/^Bearer realm="gatehouse", error="invalid_token"/);
    expectError(await http.get('/users/me', { token: rotated.body.accessToken }), 401, 'session_revoked');
    const current = setCookieOf(rotated).value;
    expectError(await refreshWithCookie(http, current, { origin: APP_ORIGIN }), 401, 'invalid_refresh_token');
  });

  it('signout and signout/all clear the cookie (same name and path, Max-Age=0); the cookie is then dead', async () => {
    for (const path of ['/auth/signout', '/auth/signout/all']) {
      const user = await cookieSignup(http);
      const reply = await http.post(path, { token: user.accessToken, headers: { origin: APP_ORIGIN } });
      expect(reply.status, reply.text).toBe(204);
      const cleared = setCookieOf(reply);
      expect(cleared).toEqual({
        name: COOKIE,
        value: '',
        attributes: ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/auth', 'Max-Age=0'],
        maxAge: 0,
      });
      const after = await refreshWithCookie(http, user.cookie.value, { origin: APP_ORIGIN });
      expectError(after, 401, 'invalid_refresh_token');
    }
  });

  it('a token in the body or header wins over the cookie, and needs no Origin', async () => {
    const a = await http.signup();
    const b = await cookieSignup(http);
    for (const request of [
      { body: { refreshToken: a.refreshToken } },
      { token: (await http.signin(a.email)).refreshToken },
    ]) {
      const reply = await http.post('/auth/refresh', {
        ...request,
        headers: { cookie: `${COOKIE}=${b.cookie.value}`, origin: 'https://evil.example.net' },
      });
      expect(reply.status, reply.text).toBe(200);
      expect(decodeJwt(reply.body.accessToken).payload.sub).toBe(a.id);
    }
    // b's cookie was not touched: it still rotates.
    const own = await refreshWithCookie(http, b.cookie.value, { origin: APP_ORIGIN });
    expect(own.status, own.text).toBe(200);
    expect(decodeJwt(own.body.accessToken).payload.sub).toBe(b.id);
  });

  it('refuses two cookies of its name (one planted by a sibling subdomain) rather than pick one', async () => {
    const user = await cookieSignup(http);
    const other = await cookieSignup(http);
    const before = await snapshot(t);
    const reply = await http.post('/auth/refresh', {
      headers: {
        cookie: `${COOKIE}=${other.cookie.value}; theme=dark; ${COOKIE}=${user.cookie.value}`,
        origin: APP_ORIGIN,
      },
    });
    expectError(reply, 401, 'invalid_refresh_token');
    expect(await snapshot(t)).toBe(before);
  });

  it('without a token anywhere, refresh is 400 as before; cookies of other names are no token', async () => {
    const reply = await http.post('/auth/refresh', {
      headers: { cookie: 'gh_refresh=gh_rt_x; other=1', origin: APP_ORIGIN },
    });
    expectError(reply, 400, 'validation_failed');
  });

  it('refuses any other value of cookie (400) and unknown query parameters', async () => {
    for (const query of ['?cookie=true', '?cookie=0', '?cookie=1&cookie=1', '?cookies=1']) {
      const reply = await http.post(`/auth/signin${query}`, {
        body: { email: uniqueEmail(), password: GOOD_PASSWORD },
        headers: { origin: APP_ORIGIN },
      });
      expectError(reply, 400, 'validation_failed');
    }
  });

  it('the MFA step sets no cookie; signin/mfa?cookie=1 does', async () => {
    const user = await http.signup();
    const { secret } = await enableMfa(http, user);
    const challenge = await http.post('/auth/signin?cookie=1', {
      body: { email: user.email, password: GOOD_PASSWORD },
      headers: { origin: APP_ORIGIN },
    });
    expect(challenge.status, challenge.text).toBe(200);
    expect(challenge.body.mfaRequired).toBe(true);
    expect(challenge.headers['set-cookie']).toBeUndefined();
    const reply = await http.post('/auth/signin/mfa?cookie=1', {
      body: { mfaToken: challenge.body.mfaToken, code: totpAt(secret, nextStep()) },
      headers: { origin: APP_ORIGIN },
    });
    expect(reply.status, reply.text).toBe(200);
    expect(reply.body).not.toHaveProperty('refreshToken');
    expect(decodeJwt(reply.body.accessToken).payload.amr).toEqual(['pwd', 'otp']);
    const cookie = setCookieOf(reply);
    expect(cookie.value).toMatch(REFRESH_TOKEN_SHAPE);
    expect(reply.headers['cache-control']).toBe('no-store');
  });

  it('a cookie session opened before MFA was turned on cannot refresh with its cookie after it', async () => {
    const user = await cookieSignup(http);
    const other = await http.post('/auth/signin?cookie=1', {
      body: { email: user.email, password: GOOD_PASSWORD },
      headers: { origin: APP_ORIGIN },
    });
    expect(other.status, other.text).toBe(200);
    const otherCookie = setCookieOf(other);
    // Enrolled from the first session: every other session ends, the cookie's included.
    await enableMfa(http, { accessToken: user.accessToken, password: GOOD_PASSWORD });
    const refused = await refreshWithCookie(http, otherCookie.value, { origin: APP_ORIGIN });
    expectError(refused, 401, 'invalid_refresh_token');
    expect(refused.text).not.toContain('accessToken');
    const refusedQuery = await refreshWithCookie(
      http,
      otherCookie.value,
      { origin: APP_ORIGIN },
      '?cookie=1',
    );
    expectError(refusedQuery, 401, 'invalid_refresh_token');
    // The enrolling session keeps its cookie, and its access tokens keep amr ["pwd"] (no factor was
    // added to it by refreshing).
    const kept = await refreshWithCookie(http, user.cookie.value, { origin: APP_ORIGIN }, '?cookie=1');
    expect(kept.status, kept.text).toBe(200);
    expect(decodeJwt(kept.body.accessToken).payload.amr).toEqual(['pwd']);
  });

  describe('CSRF: a request from an untrusted origin changes nothing', () => {
    it.each(UNTRUSTED_ORIGINS)(
      'refresh with the cookie from %s: 403 csrf_rejected',
      async (_label, origin) => {
        const user = await cookieSignup(http);
        const before = await snapshot(t);
        for (const query of ['', '?cookie=1']) {
          const reply = await refreshWithCookie(http, user.cookie.value, originHeaders(origin), query);
          expectError(reply, 403, 'csrf_rejected');
          expect(reply.headers['set-cookie']).toBeUndefined();
          expect(reply.text).not.toContain(user.cookie.value);
        }
        // No rotation, no session touched (last use, generation), no audit event.
        expect(await snapshot(t)).toBe(before);
        // And the cookie still works from the app.
        const own = await refreshWithCookie(http, user.cookie.value, { origin: APP_ORIGIN });
        expect(own.status, own.text).toBe(200);
      },
    );

    it.each(UNTRUSTED_ORIGINS)(
      'signin?cookie=1 from %s (login CSRF): 403, no session',
      async (_label, origin) => {
        const user = await http.signup();
        const before = await snapshot(t);
        const reply = await http.post('/auth/signin?cookie=1', {
          body: { email: user.email, password: GOOD_PASSWORD },
          headers: originHeaders(origin),
        });
        expectError(reply, 403, 'csrf_rejected');
        expect(reply.headers['set-cookie']).toBeUndefined();
        expect(await snapshot(t)).toBe(before);
      },
    );

    it('signup?cookie=1 from another origin creates no account', async () => {
      const before = await snapshot(t);
      const email = uniqueEmail('forged');
      const reply = await http.post('/auth/signup?cookie=1', {
        body: { email, password: GOOD_PASSWORD },
        headers: { origin: 'https://app.example.com.evil.io' },
      });
      expectError(reply, 403, 'csrf_rejected');
      expect(await snapshot(t)).toBe(before);
      const signin = await http.post('/auth/signin', { body: { email, password: GOOD_PASSWORD } });
      expectError(signin, 401, 'invalid_credentials');
    });

    it('signin/mfa?cookie=1 from another origin neither opens a session nor spends the challenge', async () => {
      const user = await http.signup();
      const { secret } = await enableMfa(http, user);
      const mfaToken = await passwordStep(http, user.email);
      const before = await snapshot(t);
      const code = totpAt(secret, nextStep());
      const forged = await http.post('/auth/signin/mfa?cookie=1', {
        body: { mfaToken, code },
        headers: { origin: 'null' },
      });
      expectError(forged, 403, 'csrf_rejected');
      expect(await snapshot(t)).toBe(before);
      // The code of that step was not used up either: the real app's request succeeds with it.
      const own = await http.post('/auth/signin/mfa?cookie=1', {
        body: { mfaToken, code },
        headers: { origin: APP_ORIGIN },
      });
      expect(own.status, own.text).toBe(200);
    });

    it('is counted in the auth events metric, and audited nowhere', async () => {
      const user = await cookieSignup(http);
      const auditBefore = (await t.connection.db.select().from(auditEvents)).length;
      await refreshWithCookie(http, user.cookie.value, { origin: 'https://evil.example.net' });
      const metrics = await http.get('/metrics');
      expect(metrics.text).toMatch(/gatehouse_auth_events_total\{event="csrf_rejected"\} [1-9]/);
      expect((await t.connection.db.select().from(auditEvents)).length).toBe(auditBefore);
    });
  });
});

describe('cookie mode with an http://localhost PUBLIC_URL', () => {
  const { http } = useTestApp({ ...NO_THROTTLE, PUBLIC_URL: 'http://localhost:3000' });

  it('names the cookie gh_refresh, without Secure (a browser keeps no Secure cookie over http)', async () => {
    const user = await cookieSignup(http, 'http://localhost:3000');
    expect(user.cookie.name).toBe('gh_refresh');
    expect(user.cookie.attributes.slice(0, 3)).toEqual(['HttpOnly', 'SameSite=Strict', 'Path=/auth']);
    expect(user.cookie.attributes).not.toContain('Secure');
    const reply = await http.post('/auth/refresh?cookie=1', {
      headers: { cookie: `gh_refresh=${user.cookie.value}`, origin: 'http://localhost:3000' },
    });
    expect(reply.status, reply.text).toBe(200);
    expect(setCookieOf(reply).name).toBe('gh_refresh');
    const signout = await http.post('/auth/signout', { token: reply.body.accessToken });
    expect(setCookieOf(signout)).toMatchObject({ name: 'gh_refresh', value: '', maxAge: 0 });
  });

  it('reads only its own cookie name, and still wants the origin', async () => {
    const user = await cookieSignup(http, 'http://localhost:3000');
    const other = await http.post('/auth/refresh', {
      headers: { cookie: `__Secure-gh_refresh=${user.cookie.value}`, origin: 'http://localhost:3000' },
    });
    expectError(other, 400, 'validation_failed');
    for (const origin of ['http://localhost:3001', 'http://127.0.0.1:3000', 'https://localhost:3000']) {
      const reply = await http.post('/auth/refresh', {
        headers: { cookie: `gh_refresh=${user.cookie.value}`, origin },
      });
      expectError(reply, 403, 'csrf_rejected');
    }
  });
});

describe('the cookie policy for each PUBLIC_URL', () => {
  it.each([
    ['http://localhost:3000', 'gh_refresh', false],
    ['http://localhost', 'gh_refresh', false],
    ['http://127.0.0.1:8080', 'gh_refresh', false],
    ['http://[::1]:3000', 'gh_refresh', false],
    ['https://localhost:3000', '__Secure-gh_refresh', true],
    ['https://auth.example.com', '__Secure-gh_refresh', true],
    // Plain http anywhere else still gets a Secure cookie: no refresh token in clear on a network.
    ['http://auth.internal:3000', '__Secure-gh_refresh', true],
    ['http://localhost.example.com', '__Secure-gh_refresh', true],
    ['http://127.0.0.2:3000', '__Secure-gh_refresh', true],
    ['http://192.168.1.10:3000', '__Secure-gh_refresh', true],
  ])('%s → %s (Secure: %s)', (publicUrl, name, secure) => {
    expect(refreshCookiePolicy(publicUrl)).toEqual({ name, secure });
  });
});
