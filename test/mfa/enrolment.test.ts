import { createHash, randomUUID } from 'node:crypto';
import { and, desc, eq, sql } from 'drizzle-orm';
import { Secret } from 'otpauth';
import { describe, expect, it } from 'vitest';
import { auditEvents, mfaRecoveryCodes, mfaTotp, users } from '../../src/database/schema.js';
import { KeyEncryption, TOTP_SECRETS } from '../../src/keys/key-encryption.js';
import { ROOT_EMAIL, ROOT_PASSWORD, signinRoot } from '../support/admin.js';
import { expectError, type Http, type Reply } from '../support/http.js';
import {
  enableMfa,
  mfaStep,
  nextStep,
  passwordStep,
  signinWithMfa,
  totpAt,
  useFakeClock,
} from '../support/mfa.js';
import { TEST_KEY_SECRET, type TestApp, useTestApp } from '../support/test-app.js';
import { decodeJwt, NO_THROTTLE } from '../support/tokens.js';

const RECOVERY_CODE = /^[0-9a-hjkmnp-tv-z]{5}(-[0-9a-hjkmnp-tv-z]{5}){4}$/;

async function me(http: Http, auth: { accessToken: string }): Promise<Reply> {
  return http.get('/users/me', { token: auth.accessToken });
}

async function expectSessionEnded(http: Http, auth: { accessToken: string; refreshToken: string }) {
  expectError(await me(http, auth), 401, 'session_revoked');
  expectError(
    await http.post('/auth/refresh', { body: { refreshToken: auth.refreshToken } }),
    401,
    'invalid_refresh_token',
  );
}

async function lastAudit(t: TestApp, userId: string, type: string) {
  const [row] = await t.connection.db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.userId, userId), eq(auditEvents.type, type)))
    .orderBy(desc(auditEvents.createdAt))
    .limit(1);
  return row;
}

/** Every row of an MFA table for one user, as PostgreSQL prints it (bytea in hex). */
async function tableText(t: TestApp, table: string, userId: string): Promise<string> {
  const result = await t.connection.db.execute(
    sql`select row_to_json(r)::text as row from ${sql.identifier(table)} r where r.user_id = ${userId}`,
  );
  return JSON.stringify(result);
}

async function totpRow(t: TestApp, userId: string) {
  const [row] = await t.connection.db.select().from(mfaTotp).where(eq(mfaTotp.userId, userId));
  return row;
}

describe('MFA enrolment, recovery codes, disabling', () => {
  useFakeClock();
  const { t, http } = useTestApp({ ...NO_THROTTLE, MFA_ISSUER: 'Acme Auth' });

  it('POST /auth/mfa/totp answers a base32 secret and its otpauth URL (SHA-1, 6 digits, 30 s); MFA stays off until confirmed', async () => {
    const user = await http.signup();
    const reply = await http.post('/auth/mfa/totp', {
      token: user.accessToken,
      body: { currentPassword: user.password },
    });
    expect(reply.status, reply.text).toBe(200);
    expect(Object.keys(reply.body).sort()).toEqual(['otpauthUrl', 'secret']);
    const { secret, otpauthUrl } = reply.body as { secret: string; otpauthUrl: string };
    expect(secret).toMatch(/^[A-Z2-7]{32}$/); // 160 bits
    const url = new URL(otpauthUrl);
    expect(url.protocol).toBe('otpauth:');
    expect(url.host).toBe('totp');
    expect(decodeURIComponent(url.pathname)).toBe(`/Acme Auth:${user.email}`);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      issuer: 'Acme Auth',
      secret,
      algorithm: 'SHA1',
      digits: '6',
      period: '30',
    });
    // Pending: nothing changes for signin.
    expect((await me(http, user)).body.mfaEnabled).toBe(false);
    const signin = await http.signin(user.email);
    expect(signin.accessToken).toEqual(expect.any(String));
  });

  it('wants the current password: a wrong one is 401 invalid_credentials and leaves nothing pending', async () => {
    const user = await http.signup();
    const wrong = await http.post('/auth/mfa/totp', {
      token: user.accessToken,
      body: { currentPassword: 'not the password' },
    });
    expectError(wrong, 401, 'invalid_credentials');
    expect(await totpRow(t, user.id)).toBeUndefined();
    const confirm = await http.post('/auth/mfa/totp/confirm', {
      token: user.accessToken,
      body: { code: '123456' },
    });
    expectError(confirm, 409, 'mfa_not_pending');
  });

  it('refuses a wrong or stale confirmation code with 401 invalid_mfa_code; MFA stays off', async () => {
    const user = await http.signup();
    const enrol = await http.post('/auth/mfa/totp', {
      token: user.accessToken,
      body: { currentPassword: user.password },
    });
    const secret = enrol.body.secret as string;
    const now = nextStep();
    const right = totpAt(secret, now);
    const wrong = right === '000000' ? '000001' : '000000';
    for (const code of [wrong, totpAt(secret, now - 90_000), totpAt(secret, now + 90_000)]) {
      const reply = await http.post('/auth/mfa/totp/confirm', { token: user.accessToken, body: { code } });
      expectError(reply, 401, 'invalid_mfa_code');
      expect(reply.text).not.toContain(code);
    }
    expect((await me(http, user)).body.mfaEnabled).toBe(false);
    // The codes of the steps next to now are accepted (clock drift of ±30 s).
    const early = await http.post('/auth/mfa/totp/confirm', {
      token: user.accessToken,
      body: { code: totpAt(secret, now - 30_000) },
    });
    expect(early.status, early.text).toBe(200);
  });

  it('confirming turns MFA on, answers 10 distinct recovery codes, and ends every other session (refresh included); the current one stays', async () => {
    const user = await http.signup();
    const other = await http.signin(user.email);
    const third = await http.signin(user.email);
    await me(http, other); // cached: the change must reach the cache
    const { recoveryCodes } = await enableMfa(http, user);
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    for (const code of recoveryCodes) expect(code).toMatch(RECOVERY_CODE);

    // Sessions opened with the password alone before enrolment: dead, and cannot refresh.
    await expectSessionEnded(http, other);
    await expectSessionEnded(http, third);
    const current = await me(http, user);
    expect(current.status, current.text).toBe(200);
    expect(current.body.mfaEnabled).toBe(true);

    const audit = await lastAudit(t, user.id, 'mfa_enabled');
    expect(audit?.detail).toEqual({ method: 'totp', revokedSessions: 2 });
    const [row] = await t.connection.db.select().from(users).where(eq(users.id, user.id));
    expect(row?.mfaEnabledAt).toBeInstanceOf(Date);
  });

  it('a session opened before enrolment cannot refresh its way past it, even one refreshed just before', async () => {
    const user = await http.signup();
    const before = await http.signin(user.email);
    const refreshed = await http.post('/auth/refresh', { body: { refreshToken: before.refreshToken } });
    expect(refreshed.status).toBe(200);
    await enableMfa(http, user);
    await expectSessionEnded(http, { ...before, ...refreshed.body });
    expectError(
      await http.post('/auth/refresh', { body: { refreshToken: before.refreshToken } }),
      401,
      'invalid_refresh_token',
    );
  });

  it('refuses a second enrolment or confirmation while MFA is on (409 mfa_already_enabled)', async () => {
    const user = await http.signup();
    const { secret } = await enableMfa(http, user);
    expectError(
      await http.post('/auth/mfa/totp', {
        token: user.accessToken,
        body: { currentPassword: user.password },
      }),
      409,
      'mfa_already_enabled',
    );
    expectError(
      await http.post('/auth/mfa/totp/confirm', {
        token: user.accessToken,
        body: { code: totpAt(secret, nextStep()) },
      }),
      409,
      'mfa_already_enabled',
    );
  });

  it('stores the TOTP secret encrypted: the row holds no base32, hex or base64 form of it', async () => {
    const user = await http.signup();
    const { secret } = await enableMfa(http, user);
    const row = await totpRow(t, user.id);
    expect(row?.secretEncrypted).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    const raw = Buffer.from(Secret.fromBase32(secret).bytes);
    const dump = await tableText(t, 'mfa_totp', user.id);
    for (const form of [
      secret,
      secret.toLowerCase(),
      raw.toString('hex'),
      raw.toString('base64'),
      raw.toString('base64url'),
    ]) {
      expect(dump).not.toContain(form);
    }
    // Under KEY_ENCRYPTION_SECRET (the TOTP purpose, bound to the user): that secret opens it, no other does.
    const sealed = row!.secretEncrypted;
    expect(new KeyEncryption(TEST_KEY_SECRET, TOTP_SECRETS).decrypt(sealed, user.id)).toEqual(raw);
    expect(() =>
      new KeyEncryption(`${TEST_KEY_SECRET}-other`, TOTP_SECRETS).decrypt(sealed, user.id),
    ).toThrow();
    expect(() => new KeyEncryption(TEST_KEY_SECRET, TOTP_SECRETS).decrypt(sealed, randomUUID())).toThrow();
  });

  it('stores recovery codes as SHA-256 hashes only', async () => {
    const user = await http.signup();
    const { recoveryCodes } = await enableMfa(http, user);
    const rows = await t.connection.db
      .select()
      .from(mfaRecoveryCodes)
      .where(eq(mfaRecoveryCodes.userId, user.id));
    expect(rows).toHaveLength(10);
    const expected = recoveryCodes.map((code) =>
      createHash('sha256').update(code.replaceAll('-', '')).digest('hex'),
    );
    expect(rows.map((row) => row.codeHash.toString('hex')).sort()).toEqual(expected.sort());
    const dump = await tableText(t, 'mfa_recovery_codes', user.id);
    for (const code of recoveryCodes) {
      expect(dump).not.toContain(code);
      expect(dump).not.toContain(code.replaceAll('-', ''));
    }
  });

  it('POST /auth/mfa/recovery-codes: a wrong code changes nothing; a right one answers new codes and the old ones stop working', async () => {
    const user = await http.signup();
    const { secret, recoveryCodes: old } = await enableMfa(http, user);
    const stale = totpAt(secret, Date.now()); // the confirmation's step: used up
    expectError(
      await http.post('/auth/mfa/recovery-codes', { token: user.accessToken, body: { code: stale } }),
      401,
      'invalid_mfa_code',
    );
    const reply = await http.post('/auth/mfa/recovery-codes', {
      token: user.accessToken,
      body: { code: totpAt(secret, nextStep()) },
    });
    expect(reply.status, reply.text).toBe(200);
    const fresh = reply.body.recoveryCodes as string[];
    expect(fresh).toHaveLength(10);
    expect(fresh.filter((code) => old.includes(code))).toEqual([]);
    expect(await lastAudit(t, user.id, 'recovery_codes_regenerated')).toBeDefined();

    expectError(
      await mfaStep(http, await passwordStep(http, user.email), { recoveryCode: old[0]! }),
      401,
      'invalid_mfa_code',
    );
    const ok = await mfaStep(http, await passwordStep(http, user.email), { recoveryCode: fresh[0]! });
    expect(ok.status, ok.text).toBe(200);
  });

  it('DELETE /auth/mfa/totp with a TOTP code: 204, MFA off, signin with the password alone (amr pwd)', async () => {
    const user = await http.signup();
    const { secret } = await enableMfa(http, user);
    const reply = await http.delete('/auth/mfa/totp', {
      token: user.accessToken,
      body: { code: totpAt(secret, nextStep()) },
    });
    expect(reply.status, reply.text).toBe(204);
    expect((await me(http, user)).body.mfaEnabled).toBe(false);
    expect(await totpRow(t, user.id)).toBeUndefined();
    expect(
      await t.connection.db.select().from(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, user.id)),
    ).toEqual([]);
    expect((await lastAudit(t, user.id, 'mfa_disabled'))?.detail).toEqual({ method: 'totp' });
    const signin = await http.signin(user.email);
    expect(decodeJwt(signin.accessToken).payload.amr).toEqual(['pwd']);
    // And it can be set up again, with a new secret.
    const again = await enableMfa(http, signin);
    expect(again.secret).not.toBe(secret);
    await signinWithMfa(http, user.email, again.secret);
  });

  it('DELETE /auth/mfa/totp with a recovery code (hyphens and case as typed): 204, audited as recovery_code_used', async () => {
    const user = await http.signup();
    const { recoveryCodes } = await enableMfa(http, user);
    const typed = recoveryCodes[3]!.toUpperCase().replaceAll('-', ' ');
    const reply = await http.delete('/auth/mfa/totp', { token: user.accessToken, body: { code: typed } });
    expect(reply.status, reply.text).toBe(204);
    expect((await lastAudit(t, user.id, 'recovery_code_used'))?.detail).toMatchObject({ purpose: 'disable' });
    expect((await lastAudit(t, user.id, 'mfa_disabled'))?.detail).toEqual({ method: 'recovery_code' });
  });

  it('answers 409 mfa_not_enabled to disabling or new codes while MFA is off, and 400 to malformed codes', async () => {
    const user = await http.signup();
    expectError(
      await http.delete('/auth/mfa/totp', { token: user.accessToken, body: { code: '123456' } }),
      409,
      'mfa_not_enabled',
    );
    expectError(
      await http.post('/auth/mfa/recovery-codes', { token: user.accessToken, body: { code: '123456' } }),
      409,
      'mfa_not_enabled',
    );
    for (const body of [
      { code: '12345' },
      { code: 'abcdef' },
      { code: 123456 },
      { code: '123456', extra: 1 },
      {},
    ]) {
      expectError(
        await http.post('/auth/mfa/totp/confirm', { token: user.accessToken, body }),
        400,
        'validation_failed',
      );
    }
    expectError(
      await http.delete('/auth/mfa/totp', { token: user.accessToken, body: { code: 'not-a-code' } }),
      400,
      'validation_failed',
    );
    for (const path of ['/auth/mfa/totp', '/auth/mfa/totp/confirm', '/auth/mfa/recovery-codes']) {
      expectError(await http.post(path, { body: { code: '123456' } }), 401, 'missing_token');
    }
  });
});

describe('DELETE /users/:id/mfa (an admin resets a lost device)', () => {
  useFakeClock();
  const { t, http } = useTestApp({ ...NO_THROTTLE, ADMIN_EMAIL: ROOT_EMAIL, ADMIN_PASSWORD: ROOT_PASSWORD });

  it('needs users:write: 403 for a plain user, 404 for an unknown id, 409 when MFA is off', async () => {
    const admin = await signinRoot(http);
    const user = await http.signup();
    expectError(await http.delete(`/users/${user.id}/mfa`, { token: user.accessToken }), 403, 'forbidden');
    expectError(
      await http.delete('/users/00000000-0000-7000-8000-000000000000/mfa', { token: admin.accessToken }),
      404,
      'not_found',
    );
    expectError(
      await http.delete(`/users/${user.id}/mfa`, { token: admin.accessToken }),
      409,
      'mfa_not_enabled',
    );
  });

  it('removes MFA and ends every session of the user; the admin view shows mfaEnabled; audited as mfa_reset', async () => {
    const admin = await signinRoot(http);
    const user = await http.signup();
    const { secret } = await enableMfa(http, user);
    const withMfa = await signinWithMfa(http, user.email, secret);
    expect((await http.get(`/users/${user.id}`, { token: admin.accessToken })).body.mfaEnabled).toBe(true);

    const reply = await http.delete(`/users/${user.id}/mfa`, { token: admin.accessToken });
    expect(reply.status, reply.text).toBe(204);
    await expectSessionEnded(http, user);
    await expectSessionEnded(http, withMfa);
    expect((await http.get(`/users/${user.id}`, { token: admin.accessToken })).body.mfaEnabled).toBe(false);
    const audit = await lastAudit(t, user.id, 'mfa_reset');
    expect(audit).toMatchObject({ actorId: admin.id, detail: { revokedSessions: 2 } });
    // The password alone signs in again.
    const signin = await http.signin(user.email);
    expect(decodeJwt(signin.accessToken).payload.amr).toEqual(['pwd']);
  });
});
