import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { users } from '../../src/database/schema.js';
import { expectError, GOOD_PASSWORD, Http, uniqueEmail } from '../support/http.js';
import { createTestApp, useTestApp } from '../support/test-app.js';
import { decodeJwt, NO_THROTTLE, UUID } from '../support/tokens.js';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const sidOf = (accessToken: string): string => decodeJwt(accessToken).payload.sid;

type Tokens = { accessToken: string; refreshToken: string };

describe('sessions', () => {
  const { t, http } = useTestApp(NO_THROTTLE);

  async function expectAlive(session: Tokens) {
    const me = await http.get('/users/me', { token: session.accessToken });
    expect(me.status, me.text).toBe(200);
    const refreshed = await http.post('/auth/refresh', { body: { refreshToken: session.refreshToken } });
    expect(refreshed.status, refreshed.text).toBe(200);
    // Hand the rotated refresh token back to the caller's object, so it can be used again.
    session.refreshToken = refreshed.body.refreshToken;
  }

  async function expectDead(session: Tokens) {
    expectError(await http.get('/users/me', { token: session.accessToken }), 401, 'session_revoked');
    expectError(
      await http.post('/auth/refresh', { body: { refreshToken: session.refreshToken } }),
      401,
      'invalid_refresh_token',
    );
  }

  async function listIds(accessToken: string): Promise<string[]> {
    const reply = await http.get('/auth/sessions', { token: accessToken });
    expect(reply.status, reply.text).toBe(200);
    return reply.body.map((s: { id: string }) => s.id).sort();
  }

  async function passwordHash(userId: string): Promise<string> {
    const [row] = await t.connection.db
      .select({ hash: users.passwordHash })
      .from(users)
      .where(eq(users.id, userId));
    return row!.hash;
  }

  describe('POST /auth/signout', () => {
    it('answers 204 and ends the session on its very next request; other sessions go on', async () => {
      const user = await http.signup();
      const other = await http.signin(user.email);
      const stranger = await http.signup();
      // Used first, so that the token's verification and session state are cached.
      expect((await http.get('/users/me', { token: user.accessToken })).status).toBe(200);

      const reply = await http.post('/auth/signout', { token: user.accessToken });
      expect(reply.status, reply.text).toBe(204);
      expect(reply.text).toBe('');

      await expectDead(user);
      expectError(await http.post('/auth/signout', { token: user.accessToken }), 401, 'session_revoked');
      expectError(await http.get('/auth/sessions', { token: user.accessToken }), 401, 'session_revoked');
      await expectAlive(other);
      await expectAlive(stranger);
    });

    it('also ends access tokens issued by refresh for that session', async () => {
      const user = await http.signup();
      const refreshed = await http.post('/auth/refresh', { body: { refreshToken: user.refreshToken } });
      expect(refreshed.status).toBe(200);
      expect((await http.post('/auth/signout', { token: refreshed.body.accessToken })).status).toBe(204);
      expectError(await http.get('/users/me', { token: user.accessToken }), 401, 'session_revoked');
      expectError(await http.get('/users/me', { token: refreshed.body.accessToken }), 401, 'session_revoked');
      expectError(
        await http.post('/auth/refresh', { body: { refreshToken: refreshed.body.refreshToken } }),
        401,
        'invalid_refresh_token',
      );
    });

    it('needs an access token', async () => {
      expectError(await http.post('/auth/signout'), 401, 'missing_token');
      const user = await http.signup();
      // A refresh token is not an access token, even here.
      expectError(await http.post('/auth/signout', { token: user.refreshToken }), 401, 'invalid_token');
      await expectAlive(user);
    });
  });

  describe('POST /auth/signout/all', () => {
    it('ends every session of the user, and only of that user', async () => {
      const user = await http.signup();
      const sessions = [user, await http.signin(user.email), await http.signin(user.email)];
      const stranger = await http.signup();
      for (const s of sessions)
        expect((await http.get('/users/me', { token: s.accessToken })).status).toBe(200);

      const reply = await http.post('/auth/signout/all', { token: sessions[1]!.accessToken });
      expect(reply.status, reply.text).toBe(204);
      for (const s of sessions) await expectDead(s);
      await expectAlive(stranger);
      // A new signin works afterwards and is the only listed session.
      const fresh = await http.signin(user.email);
      expect(await listIds(fresh.accessToken)).toEqual([sidOf(fresh.accessToken)]);
    });
  });

  describe('GET /auth/sessions', () => {
    it('lists active sessions with the contract fields, the user agent, and current on exactly the caller', async () => {
      const user = await http.signup(uniqueEmail(), GOOD_PASSWORD, { 'user-agent': 'Laptop/1.0 (test)' });
      const phone = await http.signin(user.email, GOOD_PASSWORD, { 'user-agent': 'Phone/2.0 (test)' });

      const reply = await http.get('/auth/sessions', { token: phone.accessToken });
      expect(reply.status, reply.text).toBe(200);
      expect(reply.body).toHaveLength(2);
      for (const s of reply.body) {
        expect(Object.keys(s).sort()).toEqual([
          'createdAt',
          'current',
          'expiresAt',
          'id',
          'ip',
          'lastUsedAt',
          'userAgent',
        ]);
        expect(s.id).toMatch(UUID);
        expect(s.createdAt).toMatch(ISO);
        expect(s.lastUsedAt).toMatch(ISO);
        expect(s.expiresAt).toMatch(ISO);
        expect(Date.parse(s.expiresAt)).toBeGreaterThan(Date.now());
        expect(Date.parse(s.lastUsedAt)).toBeGreaterThanOrEqual(Date.parse(s.createdAt));
        expect(typeof s.ip).toBe('string');
        expect(s.ip.length).toBeGreaterThan(0);
        expect(s).not.toHaveProperty('refreshToken');
        expect(s).not.toHaveProperty('userId');
      }
      expect(JSON.stringify(reply.body)).not.toContain(phone.refreshToken);
      const byId = new Map(reply.body.map((s: any) => [s.id, s]));
      const laptopSession: any = byId.get(sidOf(user.accessToken));
      const phoneSession: any = byId.get(sidOf(phone.accessToken));
      expect(laptopSession).toMatchObject({ userAgent: 'Laptop/1.0 (test)', current: false });
      expect(phoneSession).toMatchObject({ userAgent: 'Phone/2.0 (test)', current: true });

      // Seen from the other session, `current` moves.
      const fromLaptop = await http.get('/auth/sessions', { token: user.accessToken });
      expect(fromLaptop.body.filter((s: any) => s.current).map((s: any) => s.id)).toEqual([
        sidOf(user.accessToken),
      ]);
    });

    it("never shows another user's sessions", async () => {
      const a = await http.signup();
      const b = await http.signup();
      await http.signin(b.email);
      expect(await listIds(a.accessToken)).toEqual([sidOf(a.accessToken)]);
      expect(await listIds(b.accessToken)).toHaveLength(2);
    });

    it('does not list revoked sessions', async () => {
      const user = await http.signup();
      const second = await http.signin(user.email);
      const third = await http.signin(user.email);
      expect(await listIds(user.accessToken)).toHaveLength(3);
      expect((await http.post('/auth/signout', { token: second.accessToken })).status).toBe(204);
      expect(await listIds(user.accessToken)).toEqual(
        [sidOf(user.accessToken), sidOf(third.accessToken)].sort(),
      );
    });

    it('needs an access token', async () => {
      expectError(await http.get('/auth/sessions'), 401, 'missing_token');
    });
  });

  describe('DELETE /auth/sessions/:id', () => {
    it('revokes one of the caller’s own sessions: 204, its tokens then fail, the caller goes on', async () => {
      const user = await http.signup();
      const victim = await http.signin(user.email);
      expect((await http.get('/users/me', { token: victim.accessToken })).status).toBe(200);

      const reply = await http.delete(`/auth/sessions/${sidOf(victim.accessToken)}`, {
        token: user.accessToken,
      });
      expect(reply.status, reply.text).toBe(204);
      await expectDead(victim);
      await expectAlive(user);
      expect(await listIds(user.accessToken)).toEqual([sidOf(user.accessToken)]);
    });

    it('revokes the caller’s own current session too', async () => {
      const user = await http.signup();
      const reply = await http.delete(`/auth/sessions/${sidOf(user.accessToken)}`, {
        token: user.accessToken,
      });
      expect(reply.status, reply.text).toBe(204);
      await expectDead(user);
    });

    it("answers 404 not_found for another user's session id, and that session keeps working", async () => {
      const attacker = await http.signup();
      const target = await http.signup();
      const reply = await http.delete(`/auth/sessions/${sidOf(target.accessToken)}`, {
        token: attacker.accessToken,
      });
      expectError(reply, 404, 'not_found');
      await expectAlive(target);
      // The same answer as for an id that does not exist at all: nothing to learn.
      const unknown = await http.delete(`/auth/sessions/${randomUUID()}`, { token: attacker.accessToken });
      expectError(unknown, 404, 'not_found');
      expect(unknown.body.message).toBe(reply.body.message);
      await expectAlive(attacker);
    });

    it.each(['not-a-uuid', '123', "1' OR '1'='1", '00000000-0000-0000-0000-00000000000g'])(
      'answers 400 validation_failed for the id %j',
      async (id) => {
        const user = await http.signup();
        const reply = await http.delete(`/auth/sessions/${encodeURIComponent(id)}`, {
          token: user.accessToken,
        });
        expectError(reply, 400, 'validation_failed');
        await expectAlive(user);
      },
    );

    it('needs an access token', async () => {
      const user = await http.signup();
      expectError(await http.delete(`/auth/sessions/${sidOf(user.accessToken)}`), 401, 'missing_token');
      await expectAlive(user);
    });
  });

  describe('POST /auth/password', () => {
    const NEW_PASSWORD = 'an entirely new passphrase 77';

    it('answers 204, revokes every other session, keeps the current one, and swaps the passwords', async () => {
      const user = await http.signup();
      const current = await http.signin(user.email);
      const third = await http.signin(user.email);
      const stranger = await http.signup();
      for (const s of [user, current, third]) {
        expect((await http.get('/users/me', { token: s.accessToken })).status).toBe(200);
      }
      const before = await passwordHash(user.id);

      const reply = await http.post('/auth/password', {
        token: current.accessToken,
        body: { currentPassword: GOOD_PASSWORD, newPassword: NEW_PASSWORD },
      });
      expect(reply.status, reply.text).toBe(204);

      await expectDead(user);
      await expectDead(third);
      await expectAlive(current);
      await expectAlive(stranger);
      expect(await passwordHash(user.id)).not.toBe(before);

      expectError(
        await http.post('/auth/signin', { body: { email: user.email, password: GOOD_PASSWORD } }),
        401,
        'invalid_credentials',
      );
      const again = await http.signin(user.email, NEW_PASSWORD);
      expect(await listIds(current.accessToken)).toEqual(
        [sidOf(current.accessToken), sidOf(again.accessToken)].sort(),
      );
      const me = await http.get('/users/me', { token: current.accessToken });
      expect(Date.parse(me.body.updatedAt)).toBeGreaterThan(Date.parse(me.body.createdAt));
    });

    it('answers 401 invalid_credentials for a wrong current password, and changes nothing', async () => {
      const user = await http.signup();
      const other = await http.signin(user.email);
      const before = await passwordHash(user.id);
      const reply = await http.post('/auth/password', {
        token: user.accessToken,
        body: { currentPassword: 'not my password', newPassword: NEW_PASSWORD },
      });
      expectError(reply, 401, 'invalid_credentials');
      expect(reply.text).not.toContain(NEW_PASSWORD);
      expect(await passwordHash(user.id)).toBe(before);
      await expectAlive(user);
      await expectAlive(other);
      await http.signin(user.email, GOOD_PASSWORD);
      expectError(
        await http.post('/auth/signin', { body: { email: user.email, password: NEW_PASSWORD } }),
        401,
        'invalid_credentials',
      );
    });

    it.each([
      ['too short', 'Sh0rt!x'],
      ['too long', 'L0ng!'.repeat(26)],
      ['common', 'password1'],
    ])('answers 400 for a %s new password, and changes nothing', async (_label, newPassword) => {
      const user = await http.signup();
      const other = await http.signin(user.email);
      const before = await passwordHash(user.id);
      const reply = await http.post('/auth/password', {
        token: user.accessToken,
        body: { currentPassword: GOOD_PASSWORD, newPassword },
      });
      expectError(reply, 400, 'validation_failed');
      expect(reply.body.errors.map((e: { field: string }) => e.field)).toContain('newPassword');
      expect(reply.text).not.toContain(newPassword);
      expect(await passwordHash(user.id)).toBe(before);
      await expectAlive(other);
      await http.signin(user.email, GOOD_PASSWORD);
    });

    it('answers 400 for a malformed body and 401 without a token', async () => {
      const user = await http.signup();
      for (const body of [
        {},
        { currentPassword: GOOD_PASSWORD },
        { newPassword: NEW_PASSWORD },
        { currentPassword: GOOD_PASSWORD, newPassword: 12345678 },
        { currentPassword: GOOD_PASSWORD, newPassword: NEW_PASSWORD, email: 'other@example.io' },
      ]) {
        expectError(
          await http.post('/auth/password', { token: user.accessToken, body }),
          400,
          'validation_failed',
        );
      }
      expectError(
        await http.post('/auth/password', {
          body: { currentPassword: GOOD_PASSWORD, newPassword: NEW_PASSWORD },
        }),
        401,
        'missing_token',
      );
      await http.signin(user.email, GOOD_PASSWORD);
    });

    it('is refused from a signed-out session', async () => {
      const user = await http.signup();
      const other = await http.signin(user.email);
      expect((await http.post('/auth/signout', { token: user.accessToken })).status).toBe(204);
      const reply = await http.post('/auth/password', {
        token: user.accessToken,
        body: { currentPassword: GOOD_PASSWORD, newPassword: NEW_PASSWORD },
      });
      expectError(reply, 401, 'session_revoked');
      await expectAlive(other);
      await http.signin(user.email, GOOD_PASSWORD);
    });
  });
});

describe('logs never hold a password, token or hash', () => {
  it('after a full flow, the raw log contains none of them', async () => {
    const t = await createTestApp({ ...NO_THROTTLE, LOG_LEVEL: 'trace' });
    try {
      const http = new Http(t.app);
      const secrets: string[] = [];
      const password = 'log scan passphrase number one';
      const newPassword = 'log scan passphrase number two';
      const weak = 'password1';
      secrets.push(password, newPassword);

      const user = await http.signup(uniqueEmail('logscan'), password, { 'user-agent': 'LogScan/1.0' });
      const second = await http.signin(user.email, password);
      secrets.push(user.accessToken, user.refreshToken, second.accessToken, second.refreshToken);
      // Failures are logged too: a wrong password, unknown email, bad tokens.
      await http.post('/auth/signin', { body: { email: user.email, password: `${password}!` } });
      secrets.push(`${password}!`);
      await http.post('/auth/signin', { body: { email: uniqueEmail('ghost'), password: newPassword } });
      await http.post('/auth/signup', { body: { email: uniqueEmail('weak'), password: weak } });
      await http.get('/users/me', { token: user.accessToken });
      await http.get('/users/me', { token: `${user.accessToken}x` });
      const byHeader = await http.post('/auth/refresh', { token: user.refreshToken });
      const byBody = await http.post('/auth/refresh', { body: { refreshToken: byHeader.body.refreshToken } });
      expect(byBody.status, byBody.text).toBe(200);
      secrets.push(
        byHeader.body.accessToken,
        byHeader.body.refreshToken,
        byBody.body.accessToken,
        byBody.body.refreshToken,
      );
      await http.post('/auth/refresh', {
        body: { refreshToken: `${byBody.body.refreshToken.slice(0, -1)}Z` },
      });
      await http.post('/auth/refresh', { token: second.accessToken });
      const hashBefore = (await t.connection.db.select().from(users).where(eq(users.id, user.id)))[0]!
        .passwordHash;
      expect(
        (
          await http.post('/auth/password', {
            token: byBody.body.accessToken,
            body: { currentPassword: password, newPassword },
          })
        ).status,
      ).toBe(204);
      await http.post('/auth/password', {
        token: byBody.body.accessToken,
        body: { currentPassword: 'wrong current password', newPassword: 'yet another passphrase 3' },
      });
      secrets.push('wrong current password', 'yet another passphrase 3');
      const hashAfter = (await t.connection.db.select().from(users).where(eq(users.id, user.id)))[0]!
        .passwordHash;
      const third = await http.signin(user.email, newPassword);
      secrets.push(third.accessToken, third.refreshToken);
      await http.get('/auth/sessions', { token: third.accessToken });
      await http.delete(`/auth/sessions/${sidOf(second.accessToken)}`, { token: third.accessToken });
      await http.post('/auth/signout', { token: byBody.body.accessToken });
      await http.post('/auth/signout/all', { token: third.accessToken });
      secrets.push(hashBefore, hashAfter);

      const raw = t.rawLogs();
      // The log is really there (one line per request), so the scan below means something.
      expect(
        t.logs.filter((line) => line.msg === 'request' || 'statusCode' in line).length,
      ).toBeGreaterThanOrEqual(15);
      for (const secret of secrets) {
        expect(raw.includes(secret), `log contains a secret (${secret.slice(0, 12)}…)`).toBe(false);
      }
      // Nor recognisable pieces of them: a JWT signature, a refresh token's random part, the hash's digest.
      for (const token of secrets.filter((s) => s.split('.').length === 3)) {
        expect(raw).not.toContain(token.split('.')[2]!);
      }
      for (const token of secrets.filter((s) => s.startsWith('gh_rt_'))) {
        expect(raw).not.toContain(token.slice('gh_rt_'.length));
      }
      for (const hash of [hashBefore, hashAfter]) expect(raw).not.toContain(hash.split('$').pop()!);
      expect(raw).not.toMatch(/\$argon2id\$/);
      expect(raw.toLowerCase()).not.toContain('authorization":"bearer');
    } finally {
      await t.close();
    }
  });
});

describe('POST /auth/password: guesses and races', () => {
  const { http } = useTestApp({ RATE_LIMIT_PER_MINUTE: '1000000', SIGNIN_MAX_FAILURES: '3' });

  it('counts wrong current passwords against the signin limit: a stolen access token gets no extra guesses', async () => {
    const user = await http.signup();
    const guess = (currentPassword: string) =>
      http.post('/auth/password', {
        token: user.accessToken,
        body: { currentPassword, newPassword: 'an entirely new passphrase 77' },
      });
    for (let i = 0; i < 3; i++) expectError(await guess(`wrong guess ${i}`), 401, 'invalid_credentials');
    // Even the right password is refused now, here and at signin from the same client.
    const throttled = await guess(GOOD_PASSWORD);
    expectError(throttled, 429, 'too_many_requests');
    expect(Number(throttled.headers['retry-after'])).toBeGreaterThan(0);
    expectError(
      await http.post('/auth/signin', { body: { email: user.email, password: GOOD_PASSWORD } }),
      429,
      'too_many_requests',
    );
    expect((await http.get('/users/me', { token: user.accessToken })).status).toBe(200);
  });

  it('two sessions changing the password at once: exactly one wins, the other gets 401 and changes nothing', async () => {
    for (let round = 0; round < 5; round++) {
      const user = await http.signup();
      const other = await http.signin(user.email);
      const [a, b] = await Promise.all(
        [user, other].map((session, i) =>
          http.post('/auth/password', {
            token: session.accessToken,
            body: { currentPassword: GOOD_PASSWORD, newPassword: `new passphrase number ${i} of ${round}` },
          }),
        ),
      );
      const statuses = [a!.status, b!.status].sort();
      expect(statuses, `${a!.text} ${b!.text}`).toEqual([204, 401]);
      const winner = a!.status === 204 ? 0 : 1;
      await http.signin(user.email, `new passphrase number ${winner} of ${round}`);
      for (const password of [GOOD_PASSWORD, `new passphrase number ${1 - winner} of ${round}`]) {
        expectError(
          await http.post('/auth/signin', { body: { email: user.email, password } }),
          401,
          'invalid_credentials',
        );
      }
    }
  });
});
