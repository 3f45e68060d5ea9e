import { and, eq, isNull, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/database/database.connection.js';
import { sessions } from '../../src/database/schema.js';
import { AuthStateService } from '../../src/sessions/auth-state.service.js';
import { type AuthBody, expectError, GOOD_PASSWORD, Http, type Reply, uniqueEmail } from '../support/http.js';
import { mailEnv } from '../support/mail.js';
import { enableMfa, mfaStep, nextStep, passwordStep, totpAt, useFakeClock } from '../support/mfa.js';
import { describeWithPostgres } from '../support/server-suites.js';
import { useSmtpServer } from '../support/smtp-server.js';
import { createPostgresDatabase } from '../support/services.js';
import { createTestApp, type TestApp, useTestApp } from '../support/test-app.js';
import { decodeJwt, NO_THROTTLE } from '../support/tokens.js';

/**
 * No path issues tokens without the second factor once MFA is on. The races are made
 * deterministic with PostgreSQL's own locks: the test holds a table lock that one request
 * needs late in its transaction, waits until the other request is queued behind it, and lets go.
 */

/** Polls until `check` holds (bounded; a busy machine is slow, this is no speed check). */
async function until(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Holds `lock table <table> in share row exclusive mode` in a transaction of its own, so that
 * every insert into the table waits; returns the function that commits it.
 */
async function holdInserts(
  t: TestApp,
  table: 'audit_events' | 'refresh_tokens',
): Promise<() => Promise<void>> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const done = t.connection.db.transaction(async (tx) => {
    await tx.execute(sql.raw(`lock table ${table} in share row exclusive mode`));
    locked();
    await released;
  });
  await isLocked;
  return async () => {
    release();
    await done;
  };
}

/** Waits until `n` sessions of this database wait for a lock: the requests are queued where intended. */
function lockWaiters(t: TestApp, n: number): Promise<void> {
  return until(async () => {
    const result: unknown = await t.connection.db.execute(
      sql`select count(*)::int as waiting from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'`,
    );
    return ((result as { rows: { waiting: number }[] }).rows[0]?.waiting ?? 0) >= n;
  });
}

async function liveSessions(t: TestApp, userId: string): Promise<string[]> {
  const rows = await t.connection.db
    .select({ id: sessions.id })
    .from(sessions)
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt)));
  return rows.map((row) => row.id);
}

async function expectSessionEnded(http: Http, auth: { accessToken: string; refreshToken: string }) {
  expectError(await http.get('/users/me', { token: auth.accessToken }), 401, 'session_revoked');
  expectError(
    await http.post('/auth/refresh', { body: { refreshToken: auth.refreshToken } }),
    401,
    'invalid_refresh_token',
  );
}

/** Signs up and starts enrolment (pending); the caller confirms. */
async function pendingEnrolment(
  http: Http,
): Promise<{ user: AuthBody & { password: string }; secret: string }> {
  const user = await http.signup();
  const enrol = await http.post('/auth/mfa/totp', {
    token: user.accessToken,
    body: { currentPassword: user.password },
  });
  expect(enrol.status, enrol.text).toBe(200);
  return { user, secret: enrol.body.secret as string };
}

function confirm(http: Http, user: AuthBody, code: string): Promise<Reply> {
  return http.post('/auth/mfa/totp/confirm', { token: user.accessToken, body: { code } });
}

function signin(http: Http, email: string): Promise<Reply> {
  return http.post('/auth/signin', { body: { email, password: GOOD_PASSWORD } });
}

describe('enabling MFA racing a signin or a refresh (one instance)', () => {
  useFakeClock();
  const { t, http } = useTestApp(NO_THROTTLE);

  it('a signin whose password step passed before the confirmation committed gets a challenge, not tokens', async () => {
    const { user, secret } = await pendingEnrolment(http);
    const release = await holdInserts(t, 'audit_events');
    // The confirmation takes the user's row, turns MFA on, and waits to write its audit event.
    const confirming = confirm(http, user, totpAt(secret, nextStep()));
    await lockWaiters(t, 1);
    // The signin checks the password meanwhile, then queues for the user's row.
    const signingIn = signin(http, user.email);
    await lockWaiters(t, 2);
    await release();
    const [confirmed, signedIn] = await Promise.all([confirming, signingIn]);
    expect(confirmed.status, confirmed.text).toBe(200);
    expect(signedIn.status, signedIn.text).toBe(200);
    expect(signedIn.body).toEqual({
      mfaRequired: true,
      mfaToken: expect.any(String),
      methods: ['totp', 'recovery_code'],
    });
    expect(await liveSessions(t, user.id)).toEqual([decodeJwt(user.accessToken).payload.sid]);
    // And the challenge completes with the second factor only.
    const done = await mfaStep(http, signedIn.body.mfaToken, { code: totpAt(secret, nextStep()) });
    expect(done.status, done.text).toBe(200);
    expect(decodeJwt(done.body.accessToken).payload.amr).toEqual(['pwd', 'otp']);
  });

  it('a signin that opened its session just before the confirmation committed is ended by it', async () => {
    const { user, secret } = await pendingEnrolment(http);
    const release = await holdInserts(t, 'audit_events');
    // The signin takes the user's row, opens its session, and waits to write its audit event.
    const signingIn = signin(http, user.email);
    await lockWaiters(t, 1);
    const confirming = confirm(http, user, totpAt(secret, nextStep()));
    await lockWaiters(t, 2);
    await release();
    const [signedIn, confirmed] = await Promise.all([signingIn, confirming]);
    expect(signedIn.status, signedIn.text).toBe(200);
    expect(confirmed.status, confirmed.text).toBe(200);
    expect(decodeJwt(signedIn.body.accessToken).payload.amr).toEqual(['pwd']);
    await expectSessionEnded(http, signedIn.body);
    expect(await liveSessions(t, user.id)).toEqual([decodeJwt(user.accessToken).payload.sid]);
  });

  it('a refresh in flight when MFA is confirmed yields tokens that die with their session', async () => {
    const { user, secret } = await pendingEnrolment(http);
    const before = await http.signin(user.email);
    const release = await holdInserts(t, 'refresh_tokens');
    // The refresh takes the session's row and waits to store the new refresh token.
    const refreshing = http.post('/auth/refresh', { body: { refreshToken: before.refreshToken } });
    await lockWaiters(t, 1);
    // The confirmation queues for that session's row, to revoke it.
    const confirming = confirm(http, user, totpAt(secret, nextStep()));
    await lockWaiters(t, 2);
    await release();
    const [refreshed, confirmed] = await Promise.all([refreshing, confirming]);
    expect(refreshed.status, refreshed.text).toBe(200);
    expect(confirmed.status, confirmed.text).toBe(200);
    await expectSessionEnded(http, refreshed.body);
  });
});

describe('the mailed links with MFA on: none signs in, none turns the second factor off', () => {
  useFakeClock();
  const smtp = useSmtpServer();
  const { http } = useTestApp(() => mailEnv(smtp));

  /** A signed-up user with MFA on, and the verification link its signup mailed. */
  async function mfaUser() {
    const email = uniqueEmail('mfa-mail');
    const verification = smtp.nextMailTo(email, 'Verify your email address');
    const user = await http.signup(email);
    const { secret } = await enableMfa(http, user);
    return { user, secret, verification: await verification };
  }

  /** The password step answers a challenge and no tokens; the code of a fresh step completes it. */
  async function expectSecondFactorAsked(email: string, password: string, secret: string) {
    const reply = await http.post('/auth/signin', { body: { email, password } });
    expect(reply.status, reply.text).toBe(200);
    expect(reply.text).not.toMatch(/accessToken|refreshToken/);
    expect(reply.headers['set-cookie']).toBeUndefined();
    const done = await mfaStep(http, reply.body.mfaToken, { code: totpAt(secret, nextStep()) });
    expect(done.status, done.text).toBe(200);
    expect(decodeJwt(done.body.accessToken).payload.amr).toEqual(['pwd', 'otp']);
  }

  it('a password reset answers 204 with no tokens; the new password alone gets a challenge', async () => {
    const { user, secret } = await mfaUser();
    const next = smtp.nextMailTo(user.email, 'Reset your password');
    expect((await http.post('/auth/password/forgot', { body: { email: user.email } })).status).toBe(202);
    const mail = await next;
    const newPassword = 'reset while mfa is on 2024';
    const reset = await http.post('/auth/password/reset', { body: { token: mail.token, newPassword } });
    expect(reset.status, reset.text).toBe(204);
    expect(reset.text).toBe('');
    expect(reset.headers['set-cookie']).toBeUndefined();
    await expectSessionEnded(http, user); // the enrolling session too
    await expectSecondFactorAsked(user.email, newPassword, secret);
  });

  it('an email change answers 204 with no tokens; the new address still gets a challenge', async () => {
    const { user, secret } = await mfaUser();
    const newEmail = uniqueEmail('mfa-moved');
    const next = smtp.nextMailTo(newEmail, 'Confirm your new email address');
    const request = await http.post('/auth/email', {
      token: user.accessToken,
      body: { newEmail, currentPassword: GOOD_PASSWORD },
    });
    expect(request.status, request.text).toBe(202);
    const confirmed = await http.post('/auth/email/confirm', { body: { token: (await next).token } });
    expect(confirmed.status, confirmed.text).toBe(204);
    expect(confirmed.text).toBe('');
    await expectSessionEnded(http, user);
    await expectSecondFactorAsked(newEmail, GOOD_PASSWORD, secret);
  });

  it('verifying the email answers 204 with no tokens and leaves MFA on', async () => {
    const { user, secret, verification } = await mfaUser();
    const verified = await http.post('/auth/email/verify/confirm', { body: { token: verification.token } });
    expect(verified.status, verified.text).toBe(204);
    expect(verified.text).toBe('');
    expect((await http.get('/users/me', { token: user.accessToken })).body).toMatchObject({
      emailVerified: true,
      mfaEnabled: true,
    });
    await expectSecondFactorAsked(user.email, GOOD_PASSWORD, secret);
  });
});

describeWithPostgres('MFA on two instances sharing one PostgreSQL database', () => {
  useFakeClock();
  let drop: () => Promise<void>;
  let a: TestApp;
  let b: TestApp;
  let httpA: Http;
  let httpB: Http;

  beforeAll(async () => {
    const database = await createPostgresDatabase();
    drop = database.drop;
    const connect = () => openDatabase({ url: database.url, poolSize: 6, dataDir: '' });
    a = await createTestApp(NO_THROTTLE, { connection: await connect() });
    b = await createTestApp(NO_THROTTLE, { connection: await connect() });
    httpA = new Http(a.app);
    httpB = new Http(b.app);
    await until(
      async () => a.app.get(AuthStateService).cachingEnabled && b.app.get(AuthStateService).cachingEnabled,
    );
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await drop?.();
  });

  it('MFA confirmed on A: B asks for the second factor at once and refuses the sessions it had cached; a code used on B is refused on A', async () => {
    const { user, secret } = await pendingEnrolment(httpA);
    const onB = await httpB.signin(user.email);
    expect((await httpB.get('/users/me', { token: onB.accessToken })).status).toBe(200); // cached on B
    expect((await confirm(httpA, user, totpAt(secret, nextStep()))).status).toBe(200);
    await until(async () => (await httpB.get('/users/me', { token: onB.accessToken })).status === 401, 5_000);
    expectError(
      await httpB.post('/auth/refresh', { body: { refreshToken: onB.refreshToken } }),
      401,
      'invalid_refresh_token',
    );
    expect((await httpB.get('/users/me', { token: user.accessToken })).body.mfaEnabled).toBe(true);

    const code = totpAt(secret, nextStep());
    const viaB = await mfaStep(httpB, await passwordStep(httpB, user.email), { code });
    expect(viaB.status, viaB.text).toBe(200);
    // An mfaToken of A's password step, answered on A with the code B accepted: refused.
    expectError(
      await mfaStep(httpA, await passwordStep(httpA, user.email), { code }),
      401,
      'invalid_mfa_code',
    );
    // An mfaToken from A works on B.
    const crossed = await mfaStep(httpB, await passwordStep(httpA, user.email), {
      code: totpAt(secret, nextStep()),
    });
    expect(crossed.status, crossed.text).toBe(200);
  });

  it('10 concurrent second steps with one code, split between A and B: exactly one signs in', async () => {
    const user = await httpA.signup();
    const { secret } = await enableMfa(httpA, user);
    const tokens: { http: Http; mfaToken: string }[] = [];
    for (let i = 0; i < 10; i++) {
      const http = i % 2 === 0 ? httpA : httpB;
      tokens.push({ http, mfaToken: await passwordStep(http, user.email) });
    }
    const code = totpAt(secret, nextStep());
    const replies = await Promise.all(tokens.map(({ http, mfaToken }) => mfaStep(http, mfaToken, { code })));
    expect(replies.map((r) => r.status).sort()).toEqual([200, ...Array(9).fill(401)]);
  });

  it('an mfaToken dies after 5 wrong codes spread over both instances', async () => {
    const user = await httpA.signup();
    const { secret } = await enableMfa(httpA, user);
    const mfaToken = await passwordStep(httpA, user.email);
    const right = totpAt(secret, nextStep());
    const wrong = right === '000000' ? '000001' : '000000';
    for (let i = 0; i < 5; i++) {
      expectError(await mfaStep(i % 2 ? httpA : httpB, mfaToken, { code: wrong }), 401, 'invalid_mfa_code');
    }
    expectError(await mfaStep(httpA, mfaToken, { code: right }), 401, 'invalid_mfa_token');
    expectError(await mfaStep(httpB, mfaToken, { code: right }), 401, 'invalid_mfa_token');
  });

  it('MFA confirmed on A racing a signin on B whose password step passed first: B answers a challenge, not tokens', async () => {
    const { user, secret } = await pendingEnrolment(httpA);
    const release = await holdInserts(a, 'audit_events');
    const confirming = confirm(httpA, user, totpAt(secret, nextStep()));
    await lockWaiters(a, 1);
    const signingIn = signin(httpB, user.email);
    await lockWaiters(a, 2);
    await release();
    const [confirmed, signedIn] = await Promise.all([confirming, signingIn]);
    expect(confirmed.status, confirmed.text).toBe(200);
    expect(signedIn.body).toMatchObject({ mfaRequired: true });
    expect(signedIn.text).not.toContain('accessToken');
  });
});
