import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { refreshTokens, sessions } from '../../src/database/schema.js';
import { type AuthBody, expectError, Http, type Reply } from '../support/http.js';
import { createTestApp, type TestApp, useTestApp } from '../support/test-app.js';
import { decodeJwt, dumpDatabase, NO_THROTTLE, REFRESH_TOKEN_SHAPE } from '../support/tokens.js';

type Pair = { accessToken: string; refreshToken: string };

const sidOf = (accessToken: string): string => decodeJwt(accessToken).payload.sid;

function refreshVia(http: Http, refreshToken: string, form: 'body' | 'header' = 'body'): Promise<Reply> {
  return form === 'body'
    ? http.post('/auth/refresh', { body: { refreshToken } })
    : http.post('/auth/refresh', { token: refreshToken });
}

/** Refreshes and asserts success. */
async function rotate(http: Http, refreshToken: string): Promise<Pair> {
  const reply = await refreshVia(http, refreshToken);
  expect(reply.status, reply.text).toBe(200);
  return reply.body;
}

async function expectAccessWorks(http: Http, accessToken: string) {
  const reply = await http.get('/users/me', { token: accessToken });
  expect(reply.status, reply.text).toBe(200);
}

async function expectAccessRevoked(http: Http, accessToken: string) {
  expectError(await http.get('/users/me', { token: accessToken }), 401, 'session_revoked');
}

async function expectRefreshInvalid(http: Http, refreshToken: string) {
  const reply = await refreshVia(http, refreshToken);
  expectError(reply, 401, 'invalid_refresh_token');
  expect(reply.text).not.toContain(refreshToken);
}

describe('refresh (default grace)', () => {
  const { t, http } = useTestApp(NO_THROTTLE);

  it('rotates: a new refresh token, a working access token of the same session, nothing in clear in the database', async () => {
    const user = await http.signup();
    const reply = await refreshVia(http, user.refreshToken);
    expect(reply.status, reply.text).toBe(200);
    expect(Object.keys(reply.body).sort()).toEqual(['accessToken', 'expiresIn', 'refreshToken', 'tokenType']);
    expect(reply.body).toMatchObject({ tokenType: 'Bearer', expiresIn: 900 });
    expect(reply.body.refreshToken).toMatch(REFRESH_TOKEN_SHAPE);
    expect(reply.body.refreshToken).not.toBe(user.refreshToken);
    expect(reply.body.accessToken).not.toBe(user.accessToken);
    expect(sidOf(reply.body.accessToken)).toBe(sidOf(user.accessToken));
    expect(decodeJwt(reply.body.accessToken).payload.sub).toBe(user.id);
    await expectAccessWorks(http, reply.body.accessToken);
    // The access token from before the refresh stays valid until it expires.
    await expectAccessWorks(http, user.accessToken);

    const dump = await dumpDatabase(t.connection);
    for (const token of [user.refreshToken, reply.body.refreshToken]) {
      expect(dump).not.toContain(token);
      expect(dump).not.toContain(token.slice('gh_rt_'.length));
      expect(dump).not.toContain(Buffer.from(token.slice('gh_rt_'.length), 'base64url').toString('hex'));
    }
    expect(dump).not.toContain(reply.body.accessToken);
    // One stored (hashed) token per generation issued, all of this one session.
    const rows = await t.connection.db
      .select()
      .from(refreshTokens)
      .where(eq(refreshTokens.sessionId, sidOf(user.accessToken)));
    expect(rows).toHaveLength(2);
  });

  it('accepts the token in the body and in the Authorization header', async () => {
    const user = await http.signup();
    const viaHeader = await refreshVia(http, user.refreshToken, 'header');
    expect(viaHeader.status, viaHeader.text).toBe(200);
    const viaBody = await refreshVia(http, viaHeader.body.refreshToken, 'body');
    expect(viaBody.status, viaBody.text).toBe(200);
    // Both at once is fine when they agree.
    const both = await http.post('/auth/refresh', {
      token: viaBody.body.refreshToken,
      body: { refreshToken: viaBody.body.refreshToken },
    });
    expect(both.status, both.text).toBe(200);
    await expectAccessWorks(http, both.body.accessToken);
  });

  it('answers 400 when the header and the body name different tokens, and rotates neither', async () => {
    const a = await http.signup();
    const b = await http.signup();
    const reply = await http.post('/auth/refresh', {
      token: a.refreshToken,
      body: { refreshToken: b.refreshToken },
    });
    expectError(reply, 400, 'validation_failed');
    expect(reply.text).not.toContain(a.refreshToken);
    expect(reply.text).not.toContain(b.refreshToken);
    // Neither token was consumed: each still rotates normally.
    await rotate(http, a.refreshToken);
    await rotate(http, b.refreshToken);
  });

  it.each([
    ['no body and no header', {}],
    ['an empty object', { body: {} }],
    ['an empty JSON body', { payload: '', headers: { 'content-type': 'application/json' } }],
  ])('answers 400 validation_failed for %s', async (_label, options) => {
    expectError(await http.post('/auth/refresh', options), 400, 'validation_failed');
  });

  it.each([
    ['a number', { refreshToken: 42 }],
    ['an array', { refreshToken: ['gh_rt_x'] }],
    ['an unknown field', { refreshToken: 'gh_rt_x', sessionId: 'x' }],
  ])('answers 400 validation_failed for a body with %s', async (_label, body) => {
    expectError(await http.post('/auth/refresh', { body }), 400, 'validation_failed');
  });

  it('answers 401 invalid_refresh_token for unknown and malformed tokens', async () => {
    const user = await http.signup();
    const flipped = user.refreshToken.slice(0, -1) + (user.refreshToken.endsWith('A') ? 'B' : 'A');
    const candidates = [
      `gh_rt_${randomBytes(32).toString('base64url')}`,
      flipped,
      user.refreshToken.slice(0, -1),
      `${user.refreshToken}A`,
      user.refreshToken.replace('gh_rt_', 'gh_xx_'),
      user.refreshToken.slice('gh_rt_'.length),
      'garbage',
      "gh_rt_' OR '1'='1",
      `gh_rt_${'%'.repeat(43)}`,
      ` ${user.refreshToken}`,
    ];
    for (const token of candidates) {
      const reply = await http.post('/auth/refresh', { body: { refreshToken: token } });
      expectError(reply, 401, 'invalid_refresh_token');
    }
    // In the header, a token with spaces is not a Bearer token at all (a 400 for "no token" is fine there).
    for (const token of candidates.filter((c) => !/\s/.test(c))) {
      expectError(await http.post('/auth/refresh', { token }), 401, 'invalid_refresh_token');
    }
    // None of the near misses hurt the real session.
    await rotate(http, user.refreshToken);
  });

  it('within the grace window, the immediately preceding token still works and the client ends with a working token', async () => {
    const user = await http.signup();
    const first = await rotate(http, user.refreshToken);
    // The response of `first` was "lost": the client retries with the token it still holds.
    const retried = await rotate(http, user.refreshToken);
    expect(retried.refreshToken).not.toBe(first.refreshToken);
    expect(sidOf(retried.accessToken)).toBe(sidOf(user.accessToken));
    await expectAccessWorks(http, retried.accessToken);
    await expectAccessWorks(http, first.accessToken);
    // Whichever answer the client kept, its refresh token works: the session goes on.
    const next = await rotate(http, retried.refreshToken);
    await expectAccessWorks(http, next.accessToken);
    const alsoNext = await rotate(http, first.refreshToken);
    await expectAccessWorks(http, alsoNext.accessToken);
    const [session] = await t.connection.db
      .select()
      .from(sessions)
      .where(eq(sessions.id, sidOf(user.accessToken)));
    expect(session!.revokedAt).toBeNull();
  });

  it('gives no grace to a token two rotations back: reuse, and the whole session is revoked', async () => {
    const user = await http.signup();
    const other = await http.signin(user.email);
    const first = await rotate(http, user.refreshToken);
    const second = await rotate(http, first.refreshToken);
    await expectAccessWorks(http, second.accessToken);

    const reuse = await refreshVia(http, user.refreshToken);
    expectError(reuse, 401, 'refresh_token_reused');
    expect(reuse.body.accessToken).toBeUndefined();

    for (const token of [user.accessToken, first.accessToken, second.accessToken])
      await expectAccessRevoked(http, token);
    await expectRefreshInvalid(http, second.refreshToken);
    // The user's other session is untouched.
    await expectAccessWorks(http, other.accessToken);
    await expectAccessWorks(http, (await rotate(http, other.refreshToken)).accessToken);
  });

  it('answers 20 concurrent refreshes with one token all with 200, every returned token usable', async () => {
    const user = await http.signup();
    const replies = await Promise.all(Array.from({ length: 20 }, () => refreshVia(http, user.refreshToken)));
    for (const reply of replies) expect(reply.status, reply.text).toBeLessThan(500);
    // The contract: concurrent requests with the (immediately preceding) token within grace all succeed.
    expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200));
    const tokens = replies.map((r) => r.body.refreshToken as string);
    expect(new Set(tokens).size).toBe(20);
    for (const reply of replies) await expectAccessWorks(http, reply.body.accessToken);
    // Every tab can go on refreshing with the token it received (all within grace).
    for (const token of tokens) await rotate(http, token);
    const [session] = await t.connection.db
      .select()
      .from(sessions)
      .where(eq(sessions.id, sidOf(user.accessToken)));
    expect(session!.revokedAt).toBeNull();
  });

  it('answers invalid_refresh_token after signout, for the current and the retired token', async () => {
    const user = await http.signup();
    const rotated = await rotate(http, user.refreshToken);
    const signout = await http.post('/auth/signout', { token: rotated.accessToken });
    expect(signout.status, signout.text).toBe(204);
    await expectRefreshInvalid(http, rotated.refreshToken);
    const retired = await refreshVia(http, user.refreshToken);
    expect(retired.status, retired.text).toBe(401);
    expect(['invalid_refresh_token', 'refresh_token_reused']).toContain(retired.body.code);
  });

  it('answers invalid_refresh_token after signout/all for every session', async () => {
    const user = await http.signup();
    const second = await http.signin(user.email);
    expect((await http.post('/auth/signout/all', { token: second.accessToken })).status).toBe(204);
    await expectRefreshInvalid(http, user.refreshToken);
    await expectRefreshInvalid(http, second.refreshToken);
  });
});

describe('refresh reuse after the grace window (REFRESH_REUSE_GRACE=0)', () => {
  const { t, http } = useTestApp({ ...NO_THROTTLE, REFRESH_REUSE_GRACE: '0' });

  it('revokes the whole session on reuse of a retired token; another session of the user is unaffected', async () => {
    const user = await http.signup();
    const other: AuthBody = await http.signin(user.email);
    await expectAccessWorks(http, user.accessToken); // verified and cached before the revocation
    const rotated = await rotate(http, user.refreshToken);
    await expectAccessWorks(http, rotated.accessToken);

    const reuse = await refreshVia(http, user.refreshToken);
    expectError(reuse, 401, 'refresh_token_reused');
    expect(reuse.text).not.toContain(user.refreshToken);

    await expectAccessRevoked(http, user.accessToken);
    await expectAccessRevoked(http, rotated.accessToken);
    await expectRefreshInvalid(http, rotated.refreshToken);
    const [session] = await t.connection.db
      .select()
      .from(sessions)
      .where(eq(sessions.id, sidOf(user.accessToken)));
    expect(session!.revokedAt).not.toBeNull();

    await expectAccessWorks(http, other.accessToken);
    const otherNext = await rotate(http, other.refreshToken);
    await expectAccessWorks(http, otherNext.accessToken);
    const list = await http.get('/auth/sessions', { token: otherNext.accessToken });
    expect(list.body.map((s: { id: string }) => s.id)).toEqual([sidOf(other.accessToken)]);
  });

  it('treats the header form of a retired token as reuse as well', async () => {
    const user = await http.signup();
    const rotated = await rotate(http, user.refreshToken);
    expectError(await refreshVia(http, user.refreshToken, 'header'), 401, 'refresh_token_reused');
    await expectAccessRevoked(http, rotated.accessToken);
  });

  it('survives 20 concurrent refreshes with one token: no 5xx, only 200 or 401, at least one 200', async () => {
    const user = await http.signup();
    const replies = await Promise.all(Array.from({ length: 20 }, () => refreshVia(http, user.refreshToken)));
    for (const reply of replies) {
      expect([200, 401], reply.text).toContain(reply.status);
      if (reply.status === 401)
        expect(['refresh_token_reused', 'invalid_refresh_token']).toContain(reply.body.code);
    }
    const ok = replies.filter((r) => r.status === 200);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    if (ok.length === replies.length) {
      // Nothing was judged reuse: a returned token still works.
      let works = false;
      for (const reply of ok) works ||= (await refreshVia(http, reply.body.refreshToken)).status === 200;
      expect(works).toBe(true);
    } else {
      // Reuse was detected: the session must be revoked for every holder.
      for (const reply of ok) await expectAccessRevoked(http, reply.body.accessToken);
    }
  });
});

describe('session lifetime (SESSION_IDLE_TIMEOUT=60, SESSION_MAX_AGE=120)', () => {
  const { t, http } = useTestApp({ ...NO_THROTTLE, SESSION_IDLE_TIMEOUT: '60', SESSION_MAX_AGE: '120' });

  const secondsAgo = (s: number) => new Date(Date.now() - s * 1000);

  async function sessionRow(id: string) {
    const [row] = await t.connection.db.select().from(sessions).where(eq(sessions.id, id));
    return row!;
  }

  it('sets the absolute end to signin + SESSION_MAX_AGE and does not extend it on refresh', async () => {
    const user = await http.signup();
    const before = await sessionRow(sidOf(user.accessToken));
    expect(before.expiresAt.getTime() - before.createdAt.getTime()).toBe(120_000);
    await rotate(http, user.refreshToken);
    const after = await sessionRow(sidOf(user.accessToken));
    expect(after.expiresAt.getTime()).toBe(before.expiresAt.getTime());
  });

  it('ends a session idle for longer than SESSION_IDLE_TIMEOUT', async () => {
    const user = await http.signup();
    const other = await http.signin(user.email);
    const sid = sidOf(user.accessToken);
    await t.connection.db
      .update(sessions)
      .set({ lastUsedAt: secondsAgo(61) })
      .where(eq(sessions.id, sid));
    await expectRefreshInvalid(http, user.refreshToken);
    // Not listed as active any more.
    const list = await http.get('/auth/sessions', { token: other.accessToken });
    expect(list.status, list.text).toBe(200);
    expect(list.body.map((s: { id: string }) => s.id)).toEqual([sidOf(other.accessToken)]);
  });

  it('keeps a session used within SESSION_IDLE_TIMEOUT, and a refresh restarts the idle clock', async () => {
    const user = await http.signup();
    const sid = sidOf(user.accessToken);
    await t.connection.db
      .update(sessions)
      .set({ lastUsedAt: secondsAgo(50) })
      .where(eq(sessions.id, sid));
    const rotated = await rotate(http, user.refreshToken);
    expect(Date.now() - (await sessionRow(sid)).lastUsedAt.getTime()).toBeLessThan(5_000);
    // 50 s more of idleness is again fine (100 s since the first use, but only 50 since the refresh).
    await t.connection.db
      .update(sessions)
      .set({ lastUsedAt: secondsAgo(50) })
      .where(eq(sessions.id, sid));
    await rotate(http, rotated.refreshToken);
  });

  it('ends a session older than SESSION_MAX_AGE even if it was just used', async () => {
    const user = await http.signup();
    const other = await http.signin(user.email);
    const sid = sidOf(user.accessToken);
    await t.connection.db
      .update(sessions)
      .set({ createdAt: secondsAgo(121), expiresAt: secondsAgo(1), lastUsedAt: new Date() })
      .where(eq(sessions.id, sid));
    await expectRefreshInvalid(http, user.refreshToken);
    const list = await http.get('/auth/sessions', { token: other.accessToken });
    expect(list.body.map((s: { id: string }) => s.id)).toEqual([sidOf(other.accessToken)]);
  });
});

describe('the grace window in time (default REFRESH_REUSE_GRACE=10s, faked clock)', () => {
  let t: TestApp;
  let http: Http;
  beforeAll(async () => {
    // Faked before the app exists, so that every part of it reads the same clock.
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    t = await createTestApp(NO_THROTTLE);
    http = new Http(t.app);
  });
  afterAll(async () => {
    await t.close();
    vi.useRealTimers();
  });

  it('still honours the preceding token 9 s after the rotation', async () => {
    const user = await http.signup();
    const rotated = await rotate(http, user.refreshToken);
    vi.setSystemTime(Date.now() + 9_000);
    const retried = await rotate(http, user.refreshToken);
    await expectAccessWorks(http, retried.accessToken);
    await expectAccessWorks(http, rotated.accessToken);
  });

  it('treats the preceding token as reuse 11 s after the rotation and revokes the session', async () => {
    const user = await http.signup();
    const rotated = await rotate(http, user.refreshToken);
    vi.setSystemTime(Date.now() + 11_000);
    expectError(await refreshVia(http, user.refreshToken), 401, 'refresh_token_reused');
    await expectAccessRevoked(http, rotated.accessToken);
    await expectRefreshInvalid(http, rotated.refreshToken);
  });

  it('measures the window from the latest rotation, not from the first', async () => {
    const user = await http.signup();
    const first = await rotate(http, user.refreshToken);
    vi.setSystemTime(Date.now() + 8_000);
    const second = await rotate(http, first.refreshToken);
    vi.setSystemTime(Date.now() + 8_000);
    // 16 s after the first rotation, 8 s after the second: `first` is the immediately preceding token.
    const retried = await rotate(http, first.refreshToken);
    await expectAccessWorks(http, retried.accessToken);
    await expectAccessWorks(http, second.accessToken);
  });
});
