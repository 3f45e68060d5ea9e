import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres } from '../../src/database/database.connection.js';
import { auditEvents, signingKeys } from '../../src/database/schema.js';
import { SigningKeysService } from '../../src/keys/signing-keys.service.js';
import { KeyRevocationService } from '../../src/sessions/key-revocation.service.js';
import { expectError, Http } from '../support/http.js';
import { createTestApp, freshDatabase, type TestApp } from '../support/test-app.js';
import { decodeJwt, kidOf, NO_THROTTLE, signWithServiceKey } from '../support/tokens.js';

/** Polls `check` until it holds (bounded): waits for an event, asserts nothing by itself. */
async function until(check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await check()) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

const jwksKids = async (http: Http): Promise<string[]> =>
  ((await http.get('/.well-known/jwks.json')).body as { keys: { kid: string }[] }).keys.map((k) => k.kid);

/**
 * A signing key leaks. Revoking it must take effect at once — on the
 * instance that revokes and, through the database, on every other one, for
 * tokens they had already verified and cached too — instead of after the
 * JWKS max-age, a reload interval and a token lifetime (about 21 minutes).
 * Two apps share one database on the run's test server.
 */
describe('signing key revocation', () => {
  let a: TestApp;
  let b: TestApp;
  let httpA: Http;
  let httpB: Http;
  const delays: Record<string, number> = {};

  beforeAll(async () => {
    const connection = await freshDatabase();
    a = await createTestApp(NO_THROTTLE, { connection });
    b = await createTestApp(NO_THROTTLE, { connection: await openPostgres(connection.url, 4) });
    httpA = new Http(a.app);
    httpB = new Http(b.app);
  });
  afterAll(async () => {
    console.log('revoked key refused by the other instance after (ms):', delays);
    await b?.close();
    await a?.close();
  });

  it('refuses a validly signed token that claims a lifetime longer than ACCESS_TOKEN_TTL', async () => {
    const user = await httpA.signup();
    const now = Math.floor(Date.now() / 1000);
    const claims = { ...decodeJwt(user.accessToken).payload, jti: randomUUID(), iat: now };
    const normal = signWithServiceKey(a, { ...claims, exp: now + 15 * 60 });
    expect((await httpA.get('/users/me', { token: normal })).status).toBe(200);
    // The same key, the same session: only the lifetime differs (one day, as a leaked key would mint).
    const longLived = signWithServiceKey(a, { ...claims, jti: randomUUID(), exp: now + 86_400 });
    expectError(await httpA.get('/users/me', { token: longLived }), 401, 'invalid_token');
    expectError(await httpB.get('/users/me', { token: longLived }), 401, 'invalid_token');
  });

  it('a key deleted by hand stops verifying at once on every instance, cached tokens included', async () => {
    // A second key that signs now, so that deleting it leaves the first one.
    const user = await httpA.signup();
    await a.app.get(SigningKeysService).rotate();
    // The new key activated after the first, whenever the first did (a fast run starts them together).
    await a.connection.db
      .update(signingKeys)
      .set({ activatesAt: sql`now() - interval '1 hour'` })
      .where(sql`${signingKeys.kid} = ${kidOf(user.accessToken)!}`);
    await a.connection.db
      .update(signingKeys)
      .set({ activatesAt: sql`now() - interval '1 second'` })
      .where(sql`${signingKeys.kid} <> ${kidOf(user.accessToken)!}`);
    await a.app.get(SigningKeysService).reload();
    // A re-read started by the rotation's own notification may land after this reload: wait for the
    // new key to sign (either key is valid meanwhile), then delete it.
    let signed = await httpA.signin(user.email);
    await until(async () => {
      signed = await httpA.signin(user.email);
      return kidOf(signed.accessToken) !== kidOf(user.accessToken);
    }, 10_000);
    const kid = kidOf(signed.accessToken)!;
    await until(
      async () => (await httpB.get('/users/me', { token: signed.accessToken })).status === 200,
      2_000,
    );
    await a.connection.db.delete(signingKeys).where(sql`${signingKeys.kid} = ${kid}`);
    delays.deletedByHand = await until(
      async () => (await httpB.get('/users/me', { token: signed.accessToken })).status === 401,
      1_000,
    );
    expect(await jwksKids(httpB)).not.toContain(kid);
  });

  it('keys revoke: refused at once on the revoking instance and within 1 s on the other; gone from both JWKS; a fresh key signs', async () => {
    const user = await httpA.signup();
    const kid = kidOf(user.accessToken)!;
    // Both instances have verified (and cached) the token.
    for (const http of [httpA, httpB]) {
      for (let i = 0; i < 2; i++)
        expect((await http.get('/users/me', { token: user.accessToken })).status).toBe(200);
    }
    const revocation = await a.app.get(KeyRevocationService).revoke(kid);
    expect(revocation).toMatchObject({ kid, alreadyRevoked: false, sessionsEnded: 0 });
    // It was the key signing: a fresh key replaces it at once.
    expect(revocation!.replacedBy).toEqual(expect.any(String));

    expectError(await httpA.get('/users/me', { token: user.accessToken }), 401, 'invalid_token');
    expect(await jwksKids(httpA)).not.toContain(kid);
    delays.revoked = await until(
      async () => (await httpB.get('/users/me', { token: user.accessToken })).status === 401,
      1_000,
    );
    expectError(await httpB.get('/users/me', { token: user.accessToken }), 401, 'invalid_token');
    expect(await jwksKids(httpB)).not.toContain(kid);

    // The session itself lives on: a refresh gets a token of the new key, accepted by both.
    const refreshed = await httpA.post('/auth/refresh', { body: { refreshToken: user.refreshToken } });
    expect(refreshed.status, refreshed.text).toBe(200);
    expect(kidOf(refreshed.body.accessToken)).toBe(revocation!.replacedBy);
    await until(
      async () => (await httpB.get('/users/me', { token: refreshed.body.accessToken })).status === 200,
      1_000,
    );
    expect(await jwksKids(httpB)).toContain(revocation!.replacedBy);

    // Audited; a second revocation changes nothing.
    const audited = await a.connection.db
      .select()
      .from(auditEvents)
      .where(sql`${auditEvents.type} = 'signing_key_revoked'`);
    expect(audited.map((event) => event.detail)).toContainEqual(
      expect.objectContaining({ kid, replacedBy: revocation!.replacedBy, sessionsEnded: 0 }),
    );
    expect(await a.app.get(KeyRevocationService).revoke(kid)).toMatchObject({ alreadyRevoked: true });
    expect(await a.app.get(KeyRevocationService).revoke('no-such-kid')).toBeUndefined();
    // Listed as revoked, never as a key that signs.
    const listed = a.app
      .get(SigningKeysService)
      .describe()
      .find((key) => key.kid === kid);
    expect(listed).toMatchObject({ state: 'revoked', published: false });
  });

  it('--end-sessions signs out the sessions that may hold its tokens, and only those', async () => {
    const before = await httpA.signup(); // given a token of the key that will be revoked
    const kid = kidOf(before.accessToken)!;
    const revocation = await a.app.get(KeyRevocationService).revoke(kid, { endSessions: true });
    expect(revocation!.sessionsEnded).toBeGreaterThanOrEqual(1);
    const after = await httpA.signup(); // opened after: its tokens come from the new key
    expect(kidOf(after.accessToken)).toBe(revocation!.replacedBy);

    for (const http of [httpA, httpB]) {
      expectError(
        await http.post('/auth/refresh', { body: { refreshToken: before.refreshToken } }),
        401,
        'invalid_refresh_token',
      );
    }
    expect((await httpB.post('/auth/refresh', { body: { refreshToken: after.refreshToken } })).status).toBe(
      200,
    );
    const perUser = await a.connection.db
      .select()
      .from(auditEvents)
      .where(sql`${auditEvents.type} = 'session_revoked' and ${auditEvents.userId} = ${before.id}`);
    expect(perUser.map((event) => event.detail)).toEqual([
      { sessions: 1, reason: 'signing_key_revoked', kid },
    ]);
  });
});
