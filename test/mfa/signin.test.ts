import { randomBytes } from 'node:crypto';
import { and, count, desc, eq } from 'drizzle-orm';
import { describe, expect, it, vi } from 'vitest';
import { auditEvents, mfaChallenges, sessions, users } from '../../src/database/schema.js';
import { RetentionService } from '../../src/retention/retention.service.js';
import { ROOT_EMAIL, ROOT_PASSWORD, signinRoot } from '../support/admin.js';
import { expectError, GOOD_PASSWORD, type Http, type Reply } from '../support/http.js';
import {
  enableMfa,
  mfaStep,
  nextStep,
  passwordStep,
  signinWithMfa,
  totpAt,
  useFakeClock,
} from '../support/mfa.js';
import { type TestApp, useTestApp } from '../support/test-app.js';
import { decodeJwt, NO_THROTTLE } from '../support/tokens.js';

/** A signed-up user with MFA on; `session` is the session that enrolled (it stays). */
async function mfaUser(http: Http) {
  const session = await http.signup();
  const enrolled = await enableMfa(http, session);
  return { ...enrolled, session, email: session.email, id: session.id };
}

/** A six-digit code that is not the right one now. */
function wrongCode(secret: string): string {
  const right = totpAt(secret);
  return right === '999999' ? '000000' : String(Number(right) + 1).padStart(6, '0');
}

async function audits(t: TestApp, userId: string, type: string) {
  return t.connection.db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.userId, userId), eq(auditEvents.type, type)))
    .orderBy(desc(auditEvents.createdAt));
}

async function sessionCount(t: TestApp, userId: string): Promise<number> {
  const [row] = await t.connection.db
    .select({ n: count() })
    .from(sessions)
    .where(eq(sessions.userId, userId));
  return row?.n ?? 0;
}

const statuses = (replies: Reply[]) =>
  replies.map((reply) => `${reply.status} ${reply.body?.code ?? ''}`.trim());

describe('two-step signin with MFA', () => {
  useFakeClock();
  const { t, http } = useTestApp(NO_THROTTLE);

  it('the password step answers mfaRequired, an opaque mfaToken and the methods — no tokens, no session', async () => {
    const user = await mfaUser(http);
    const before = await sessionCount(t, user.id);
    const reply = await http.post('/auth/signin', { body: { email: user.email, password: GOOD_PASSWORD } });
    expect(reply.status, reply.text).toBe(200);
    expect(Object.keys(reply.body).sort()).toEqual(['methods', 'mfaRequired', 'mfaToken']);
    expect(reply.body).toMatchObject({ mfaRequired: true, methods: ['totp', 'recovery_code'] });
    expect(reply.body.mfaToken).toMatch(/^gh_mfa_[A-Za-z0-9_-]{43}$/); // 256 bits
    expect(reply.text).not.toMatch(/accessToken|refreshToken/);
    expect(await sessionCount(t, user.id)).toBe(before);
    expect((await audits(t, user.id, 'mfa_challenge')).length).toBe(1);
    // A wrong password is answered as ever, whether or not MFA is on.
    expectError(
      await http.post('/auth/signin', { body: { email: user.email, password: 'wrong password' } }),
      401,
      'invalid_credentials',
    );
  });

  it('the second step with a TOTP code answers the signin token response; amr is ["pwd","otp"], also after refresh', async () => {
    const user = await mfaUser(http);
    const mfaToken = await passwordStep(http, user.email);
    const reply = await mfaStep(http, mfaToken, { code: totpAt(user.secret, nextStep()) });
    expect(reply.status, reply.text).toBe(200);
    expect(Object.keys(reply.body).sort()).toEqual(
      ['accessToken', 'email', 'expiresIn', 'id', 'refreshToken', 'roles', 'tokenType'].sort(),
    );
    expect(reply.body).toMatchObject({
      id: user.id,
      email: user.email,
      roles: ['user'],
      tokenType: 'Bearer',
    });
    expect(decodeJwt(reply.body.accessToken).payload.amr).toEqual(['pwd', 'otp']);
    const me = await http.get('/users/me', { token: reply.body.accessToken });
    expect(me.body).toMatchObject({ id: user.id, mfaEnabled: true });
    const refreshed = await http.post('/auth/refresh', { body: { refreshToken: reply.body.refreshToken } });
    expect(refreshed.status, refreshed.text).toBe(200);
    expect(decodeJwt(refreshed.body.accessToken).payload.amr).toEqual(['pwd', 'otp']);
    const [audit] = await audits(t, user.id, 'signin_succeeded');
    expect(audit?.detail).toMatchObject({ mfa: 'totp' });

    // Without MFA: amr ["pwd"], also after refresh.
    const plain = await http.signup();
    expect(decodeJwt(plain.accessToken).payload.amr).toEqual(['pwd']);
    const plainRefresh = await http.post('/auth/refresh', { body: { refreshToken: plain.refreshToken } });
    expect(decodeJwt(plainRefresh.body.accessToken).payload.amr).toEqual(['pwd']);
  });

  it('a recovery code signs in once (amr ["pwd","otp"]); the same code again is 401 invalid_mfa_code', async () => {
    const user = await mfaUser(http);
    const code = user.recoveryCodes[0]!;
    const first = await mfaStep(http, await passwordStep(http, user.email), { recoveryCode: code });
    expect(first.status, first.text).toBe(200);
    expect(decodeJwt(first.body.accessToken).payload.amr).toEqual(['pwd', 'otp']);
    const [used] = await audits(t, user.id, 'recovery_code_used');
    expect(used?.detail).toEqual({ purpose: 'signin', remaining: 9 });
    const again = await mfaStep(http, await passwordStep(http, user.email), { recoveryCode: code });
    expectError(again, 401, 'invalid_mfa_code');
    expect(again.text).not.toContain(code);
  });

  it('an mfaToken is single use: after its second step succeeded it is 401 invalid_mfa_token', async () => {
    const user = await mfaUser(http);
    const mfaToken = await passwordStep(http, user.email);
    expect((await mfaStep(http, mfaToken, { code: totpAt(user.secret, nextStep()) })).status).toBe(200);
    const replay = await mfaStep(http, mfaToken, { code: totpAt(user.secret, nextStep()) });
    expectError(replay, 401, 'invalid_mfa_token');
    expect(replay.text).not.toContain(mfaToken);
  });

  it('accepts a TOTP time step once per user: the code that signed in (or confirmed) is refused the second time', async () => {
    const user = await mfaUser(http);
    // The confirmation's step is used up.
    const confirmCode = totpAt(user.secret);
    expectError(
      await mfaStep(http, await passwordStep(http, user.email), { code: confirmCode }),
      401,
      'invalid_mfa_code',
    );
    const code = totpAt(user.secret, nextStep());
    expect((await mfaStep(http, await passwordStep(http, user.email), { code })).status).toBe(200);
    expectError(await mfaStep(http, await passwordStep(http, user.email), { code }), 401, 'invalid_mfa_code');
    // Nor an earlier step still inside the ±1 window.
    const earlier = totpAt(user.secret, Date.now() - 30_000);
    expectError(
      await mfaStep(http, await passwordStep(http, user.email), { code: earlier }),
      401,
      'invalid_mfa_code',
    );
  });

  it('answers 401 invalid_mfa_token to unknown and malformed tokens, and 400 to a body without exactly one factor', async () => {
    const user = await mfaUser(http);
    const code = totpAt(user.secret, nextStep());
    const refreshToken = user.session.refreshToken;
    for (const mfaToken of [
      `gh_mfa_${randomBytes(32).toString('base64url')}`,
      'gh_mfa_x',
      refreshToken,
      '',
    ]) {
      expectError(await mfaStep(http, mfaToken, { code }), 401, 'invalid_mfa_token');
    }
    const mfaToken = await passwordStep(http, user.email);
    for (const body of [
      { mfaToken },
      { mfaToken, code, recoveryCode: user.recoveryCodes[0] },
      { mfaToken, code: '12345' },
      { mfaToken, recoveryCode: 'nope' },
      { mfaToken, code, email: user.email },
      { code },
    ]) {
      expectError(await http.post('/auth/signin/mfa', { body }), 400, 'validation_failed');
    }
    // None of that used the token up.
    expect((await mfaStep(http, mfaToken, { code })).status).toBe(200);
  });

  it('an mfaToken dies after 5 wrong codes: the 6th attempt, with the right code, is 401 invalid_mfa_token', async () => {
    const user = await mfaUser(http);
    const mfaToken = await passwordStep(http, user.email);
    nextStep();
    for (let i = 0; i < 5; i++) {
      expectError(await mfaStep(http, mfaToken, { code: wrongCode(user.secret) }), 401, 'invalid_mfa_code');
    }
    expectError(await mfaStep(http, mfaToken, { code: totpAt(user.secret) }), 401, 'invalid_mfa_token');
    const failed = await audits(t, user.id, 'mfa_challenge_failed');
    expect(failed.map((row) => row.detail.failures).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(failed.find((row) => row.detail.failures === 5)?.detail).toMatchObject({ mfaTokenEnded: true });
    expect(failed.every((row) => row.actorId === null)).toBe(true);
    // A new password step starts a new challenge.
    expect(
      (await mfaStep(http, await passwordStep(http, user.email), { code: totpAt(user.secret) })).status,
    ).toBe(200);
  });

  it('10 concurrent wrong codes on one mfaToken: no more than 5 are checked, the rest are 401 invalid_mfa_token', async () => {
    const user = await mfaUser(http);
    const mfaToken = await passwordStep(http, user.email);
    nextStep();
    const replies = await Promise.all(
      Array.from({ length: 10 }, () => mfaStep(http, mfaToken, { code: wrongCode(user.secret) })),
    );
    const codes = statuses(replies).sort();
    expect(codes.filter((c) => c === '401 invalid_mfa_code')).toHaveLength(5);
    expect(codes.filter((c) => c === '401 invalid_mfa_token')).toHaveLength(5);
    expectError(await mfaStep(http, mfaToken, { code: totpAt(user.secret) }), 401, 'invalid_mfa_token');
  });

  it('an mfaToken dies 5 minutes after its password step (faked clock)', async () => {
    const user = await mfaUser(http);
    const start = Date.now();
    const late = await passwordStep(http, user.email);
    const inTime = await passwordStep(http, user.email);
    vi.setSystemTime(start + 4 * 60_000);
    expect((await mfaStep(http, inTime, { code: totpAt(user.secret) })).status).toBe(200);
    vi.setSystemTime(start + 5 * 60_000 + 1_000);
    expectError(await mfaStep(http, late, { code: totpAt(user.secret) }), 401, 'invalid_mfa_token');
  });

  it('the retention job deletes mfaTokens past their 5 minutes', async () => {
    const user = await mfaUser(http);
    await passwordStep(http, user.email);
    const live = await passwordStep(http, user.email);
    const challengesOf = async () =>
      (await t.connection.db.select().from(mfaChallenges).where(eq(mfaChallenges.userId, user.id))).length;
    expect(await challengesOf()).toBe(2);
    vi.setSystemTime(Date.now() + 5 * 60_000 + 1_000);
    const fresh = await passwordStep(http, user.email); // deletes the user's dead ones too
    expect(await challengesOf()).toBe(1);
    expectError(
      await mfaStep(http, live, { code: totpAt(user.secret, nextStep()) }),
      401,
      'invalid_mfa_token',
    );
    vi.setSystemTime(Date.now() + 5 * 60_000 + 1_000);
    const round = await t.app.get(RetentionService).runOnce();
    expect(round).toMatchObject({ ran: true, mfaChallenges: expect.any(Number) });
    expect(await challengesOf()).toBe(0);
    expectError(
      await mfaStep(http, fresh, { code: totpAt(user.secret, nextStep()) }),
      401,
      'invalid_mfa_token',
    );
  });

  it('a password change between the two steps ends the mfaToken', async () => {
    const user = await mfaUser(http);
    const mfaToken = await passwordStep(http, user.email);
    const change = await http.post('/auth/password', {
      token: user.session.accessToken,
      body: { currentPassword: GOOD_PASSWORD, newPassword: 'another long passphrase' },
    });
    expect(change.status, change.text).toBe(204);
    expectError(
      await mfaStep(http, mfaToken, { code: totpAt(user.secret, nextStep()) }),
      401,
      'invalid_mfa_token',
    );
  });

  it('turning MFA off between the two steps ends the mfaToken; disabling the account answers 403 account_disabled', async () => {
    const user = await mfaUser(http);
    const mfaToken = await passwordStep(http, user.email);
    const off = await http.delete('/auth/mfa/totp', {
      token: user.session.accessToken,
      body: { code: totpAt(user.secret, nextStep()) },
    });
    expect(off.status, off.text).toBe(204);
    expectError(
      await mfaStep(http, mfaToken, { code: totpAt(user.secret, nextStep()) }),
      401,
      'invalid_mfa_token',
    );

    const other = await mfaUser(http);
    const pending = await passwordStep(http, other.email);
    await t.connection.db.update(users).set({ disabledAt: new Date() }).where(eq(users.id, other.id));
    expectError(
      await mfaStep(http, pending, { code: totpAt(other.secret, nextStep()) }),
      403,
      'account_disabled',
    );
  });

  it('10 concurrent second steps with one code (10 mfaTokens): exactly one signs in', async () => {
    const user = await mfaUser(http);
    const tokens: string[] = [];
    for (let i = 0; i < 10; i++) tokens.push(await passwordStep(http, user.email));
    const code = totpAt(user.secret, nextStep());
    const replies = await Promise.all(tokens.map((mfaToken) => mfaStep(http, mfaToken, { code })));
    expect(statuses(replies).sort()).toEqual([...Array(9).fill('401 invalid_mfa_code'), '200'].sort());
  });

  it('10 concurrent uses of one recovery code (10 mfaTokens): exactly one signs in', async () => {
    const user = await mfaUser(http);
    const tokens: string[] = [];
    for (let i = 0; i < 10; i++) tokens.push(await passwordStep(http, user.email));
    const recoveryCode = user.recoveryCodes[5]!;
    const replies = await Promise.all(tokens.map((mfaToken) => mfaStep(http, mfaToken, { recoveryCode })));
    expect(statuses(replies).sort()).toEqual([...Array(9).fill('401 invalid_mfa_code'), '200'].sort());
  });

  it('10 concurrent DELETE /auth/mfa/totp with one recovery code: one turns MFA off, the others change nothing', async () => {
    const user = await mfaUser(http);
    const recoveryCode = user.recoveryCodes[7]!;
    const replies = await Promise.all(
      Array.from({ length: 10 }, () =>
        http.delete('/auth/mfa/totp', { token: user.session.accessToken, body: { code: recoveryCode } }),
      ),
    );
    const outcome = statuses(replies);
    expect(outcome.filter((s) => s === '204')).toHaveLength(1);
    // The others lost the race: the code was used (401), or MFA was off by the time they ran (409).
    expect(
      outcome
        .filter((s) => s !== '204')
        .every((s) => s === '401 invalid_mfa_code' || s === '409 mfa_not_enabled'),
    ).toBe(true);
    expect((await audits(t, user.id, 'mfa_disabled')).length).toBe(1);
  });
});

describe('wrong codes count toward SIGNIN_MAX_FAILURES (default 5)', () => {
  useFakeClock();
  const { http } = useTestApp({ RATE_LIMIT_PER_MINUTE: '1000000' });

  it('an attacker who knows the password cannot reset the count with the password step: the 6th try is 429 at either step, right code or not', async () => {
    const user = await mfaUser(http);
    nextStep();
    const first = await passwordStep(http, user.email);
    for (let i = 0; i < 3; i++) {
      expectError(await mfaStep(http, first, { code: wrongCode(user.secret) }), 401, 'invalid_mfa_code');
    }
    // The right password again: a new mfaToken, but the 3 failures stand.
    const second = await passwordStep(http, user.email);
    for (let i = 0; i < 2; i++) {
      expectError(await mfaStep(http, second, { code: wrongCode(user.secret) }), 401, 'invalid_mfa_code');
    }
    const throttled = await mfaStep(http, second, { code: totpAt(user.secret) });
    expectError(throttled, 429, 'too_many_requests');
    expect(Number(throttled.headers['retry-after'])).toBeGreaterThan(0);
    expectError(
      await http.post('/auth/signin', { body: { email: user.email, password: GOOD_PASSWORD } }),
      429,
      'too_many_requests',
    );
  });

  it('wrong codes on DELETE /auth/mfa/totp count too: a stolen access token cannot guess its way to turning MFA off', async () => {
    const user = await mfaUser(http);
    nextStep();
    for (let i = 0; i < 5; i++) {
      const reply = await http.delete('/auth/mfa/totp', {
        token: user.session.accessToken,
        body: { code: wrongCode(user.secret) },
      });
      expectError(reply, 401, 'invalid_mfa_code');
    }
    expectError(
      await http.delete('/auth/mfa/totp', {
        token: user.session.accessToken,
        body: { code: totpAt(user.secret) },
      }),
      429,
      'too_many_requests',
    );
    expect((await http.get('/users/me', { token: user.session.accessToken })).body.mfaEnabled).toBe(true);
  });

  it('a successful second step starts the count again', async () => {
    const user = await mfaUser(http);
    nextStep();
    const mfaToken = await passwordStep(http, user.email);
    for (let i = 0; i < 4; i++) {
      expectError(await mfaStep(http, mfaToken, { code: wrongCode(user.secret) }), 401, 'invalid_mfa_code');
    }
    expect((await mfaStep(http, mfaToken, { code: totpAt(user.secret) })).status).toBe(200);
    for (let i = 0; i < 4; i++) {
      expectError(
        await http.post('/auth/signin', { body: { email: user.email, password: 'wrong password' } }),
        401,
        'invalid_credentials',
      );
    }
    await passwordStep(http, user.email);
  });
});

/** The `gatehouse_auth_events_total` samples, by event. */
async function authEvents(http: Http): Promise<Record<string, number>> {
  const reply = await http.get('/metrics');
  expect(reply.status).toBe(200);
  const events: Record<string, number> = {};
  for (const [, event, value] of reply.text.matchAll(
    /^gatehouse_auth_events_total\{event="(\w+)"\} (\d+)$/gm,
  )) {
    events[event!] = Number(value);
  }
  return events;
}

describe('MFA in the metrics, and secrets out of logs and error bodies', () => {
  useFakeClock();
  const { t, http } = useTestApp({ ...NO_THROTTLE, ADMIN_EMAIL: ROOT_EMAIL, ADMIN_PASSWORD: ROOT_PASSWORD });

  it('counts enrolment, challenges, failures, recovery-code use, disabling and resets; no log line or error body holds a secret, code, recovery code or mfaToken', async () => {
    const admin = await signinRoot(http);
    const before = await authEvents(http);
    const secrets: string[] = [];
    const codes: string[] = []; // six digits: matched as whole numbers (a timestamp may contain any six)
    const errorBodies: string[] = [];
    const keep = (reply: Reply) => {
      if (reply.status >= 400) errorBodies.push(reply.text);
      return reply;
    };

    const user = await mfaUser(http); // mfa_enabled
    secrets.push(user.secret, ...user.recoveryCodes, ...user.recoveryCodes.map((c) => c.replaceAll('-', '')));
    codes.push(totpAt(user.secret)); // the confirmation's
    const signedIn = await signinWithMfa(http, user.email, user.secret); // mfa_challenge, signin_succeeded
    codes.push(totpAt(user.secret));
    secrets.push(signedIn.accessToken, signedIn.refreshToken);

    const mfaToken = await passwordStep(http, user.email); // mfa_challenge
    secrets.push(mfaToken);
    const wrong = wrongCode(user.secret);
    codes.push(wrong);
    keep(await mfaStep(http, mfaToken, { code: wrong })); // mfa_challenge_failed
    keep(await mfaStep(http, mfaToken, { recoveryCode: 'aaaaa-bbbbb-ccccc-ddddd-eeeee' })); // mfa_challenge_failed
    const used = await mfaStep(http, mfaToken, { recoveryCode: user.recoveryCodes[1]! }); // recovery_code_used
    expect(used.status, used.text).toBe(200);
    keep(await mfaStep(http, mfaToken, { recoveryCode: user.recoveryCodes[1]! })); // invalid_mfa_token
    keep(
      await http.post('/auth/mfa/recovery-codes', { token: user.session.accessToken, body: { code: wrong } }),
    );
    const regenerated = await http.post('/auth/mfa/recovery-codes', {
      token: user.session.accessToken,
      body: { code: totpAt(user.secret, nextStep()) },
    });
    codes.push(totpAt(user.secret));
    secrets.push(...(regenerated.body.recoveryCodes as string[]));
    const enrolled = await http.post('/auth/mfa/totp', {
      token: user.session.accessToken,
      body: { currentPassword: GOOD_PASSWORD },
    });
    keep(enrolled); // 409: MFA is on

    const off = await http.delete('/auth/mfa/totp', {
      token: user.session.accessToken,
      body: { code: regenerated.body.recoveryCodes[0] },
    }); // mfa_disabled, recovery_code_used
    expect(off.status, off.text).toBe(204);

    const other = await mfaUser(http); // mfa_enabled
    secrets.push(other.secret, ...other.recoveryCodes);
    const reset = await http.delete(`/users/${other.id}/mfa`, { token: admin.accessToken }); // mfa_reset
    expect(reset.status, reset.text).toBe(204);

    const after = await authEvents(http);
    const delta = (event: string) => (after[event] ?? 0) - (before[event] ?? 0);
    expect({
      mfa_enabled: delta('mfa_enabled'),
      mfa_challenge: delta('mfa_challenge'),
      mfa_challenge_failed: delta('mfa_challenge_failed'),
      recovery_code_used: delta('recovery_code_used'),
      mfa_disabled: delta('mfa_disabled'),
      mfa_reset: delta('mfa_reset'),
      signin_succeeded: delta('signin_succeeded'),
    }).toEqual({
      mfa_enabled: 2,
      mfa_challenge: 2,
      mfa_challenge_failed: 4, // 2 wrong codes, the dead mfaToken, the wrong code for new recovery codes
      recovery_code_used: 2,
      mfa_disabled: 1,
      mfa_reset: 1,
      signin_succeeded: 2,
    });

    const logs = t.rawLogs();
    expect(logs.length).toBeGreaterThan(0);
    expect(errorBodies.length).toBeGreaterThanOrEqual(4);
    for (const text of [logs, ...errorBodies]) {
      for (const secret of secrets)
        expect(text, 'a log line or error body holds a secret').not.toContain(secret);
      for (const code of codes) {
        expect(text, `a log line or error body holds the code ${code}`).not.toMatch(
          new RegExp(`(?<![0-9a-f])${code}(?![0-9a-f])`),
        );
      }
    }
  });
});
