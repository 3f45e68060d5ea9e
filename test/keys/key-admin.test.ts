import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres } from '../../src/database/database.connection.js';
import { auditEvents } from '../../src/database/schema.js';
import { ROOT_EMAIL, ROOT_PASSWORD, signinRoot } from '../support/admin.js';
import { type AuthBody, expectError, Http } from '../support/http.js';
import { createTestApp, freshDatabase, type TestApp } from '../support/test-app.js';
import { kidOf, NO_THROTTLE } from '../support/tokens.js';

/** Polls `check` until it holds (bounded): waits for an event, asserts nothing by itself. */
async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await check()) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

/** The admin's client, as the audit log records it. */
const FROM = { 'user-agent': 'key-admin-test' };

const jwksKids = async (http: Http): Promise<string[]> =>
  ((await http.get('/.well-known/jwks.json')).body as { keys: { kid: string }[] }).keys.map((k) => k.kid);

/**
 * POST /keys/rotate and POST /keys/:kid/revoke on the running service: an
 * admin (permission keys:write) rotates or revokes on one instance, and the
 * other instance on the same database follows within a second. Audited.
 */
describe('key rotation and revocation over HTTP', () => {
  let a: TestApp;
  let b: TestApp;
  let httpA: Http;
  let httpB: Http;
  let admin: AuthBody;
  const env = { ...NO_THROTTLE, ADMIN_EMAIL: ROOT_EMAIL, ADMIN_PASSWORD: ROOT_PASSWORD };

  beforeAll(async () => {
    const connection = await freshDatabase();
    a = await createTestApp(env, { connection });
    b = await createTestApp(env, { connection: await openPostgres(connection.url, 4) });
    httpA = new Http(a.app);
    httpB = new Http(b.app);
    admin = await signinRoot(httpA);
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  const auditOf = async (type: string) =>
    a.connection.db
      .select()
      .from(auditEvents)
      .where(sql`${auditEvents.type} = ${type}`);

  it('is for keys:write only: 403 for a plain user, who changes nothing', async () => {
    const plain = await httpA.signup();
    const before = await jwksKids(httpA);
    expectError(await httpA.post('/keys/rotate', { token: plain.accessToken }), 403, 'forbidden');
    expectError(
      await httpA.post(`/keys/${before[0]}/revoke`, { token: plain.accessToken }),
      403,
      'forbidden',
    );
    expect(await jwksKids(httpA)).toEqual(before);
    expect(await auditOf('signing_key_rotated')).toEqual([]);
  });

  it('rotates: the new key is published at once on this instance and within 1 s on the other, signing later; audited', async () => {
    const user = await httpA.signup();
    const rotated = await httpA.post('/keys/rotate', { token: admin.accessToken, headers: FROM });
    expect(rotated.status, rotated.text).toBe(201);
    const { kid, alg, activatesAt } = rotated.body as { kid: string; alg: string; activatesAt: string };
    expect(alg).toBe('ES256');
    expect(Date.parse(activatesAt)).toBeGreaterThanOrEqual(Date.now() + a.config.jwt.jwksMaxAge * 1000);
    expect(await jwksKids(httpA)).toContain(kid);
    await until(async () => (await jwksKids(httpB)).includes(kid), 1_000);
    // Not signing yet: no one is signed out, tokens still come from the old key.
    expect(kidOf((await httpA.signin(user.email)).accessToken)).toBe(kidOf(user.accessToken));
    expect((await httpB.get('/users/me', { token: user.accessToken })).status).toBe(200);

    const [event] = await auditOf('signing_key_rotated');
    expect(event).toMatchObject({
      userId: null,
      actorId: admin.id,
      userAgent: 'key-admin-test',
      detail: { kid, alg: 'ES256', activatesAt },
    });
  });

  it('refuses a second rotation while one is under way (409 rotation_pending), and adds no key', async () => {
    const before = await jwksKids(httpA);
    const again = await httpB.post('/keys/rotate', { token: admin.accessToken });
    expectError(again, 409, 'rotation_pending');
    expect(again.body.message).toMatch(/revoke it first/);
    expect(await jwksKids(httpA)).toEqual(before);
  });

  it('refuses a bad kid (400), an unknown one (404) and an unknown body field (400)', async () => {
    const token = admin.accessToken;
    expectError(await httpA.post('/keys/not%20a%20kid/revoke', { token }), 400, 'validation_failed');
    expectError(await httpA.post('/keys/no-such-key/revoke', { token }), 404, 'not_found');
    const kid = (await jwksKids(httpA))[0]!;
    expectError(
      await httpA.post(`/keys/${kid}/revoke`, { token, body: { now: true } }),
      400,
      'validation_failed',
    );
    expectError(
      await httpA.post('/keys/rotate', { token, body: { alg: 'HS256' } }),
      400,
      'validation_failed',
    );
  });

  it('revokes the key signing now with endSessions: refused at once here and within 1 s there; a fresh key signs; audited', async () => {
    const user = await httpA.signup();
    const kid = kidOf(user.accessToken)!;
    for (const http of [httpA, httpB])
      expect((await http.get('/users/me', { token: user.accessToken })).status).toBe(200);

    const revoked = await httpA.post(`/keys/${kid}/revoke`, {
      token: admin.accessToken,
      body: { endSessions: true },
      headers: FROM,
    });
    expect(revoked.status, revoked.text).toBe(200);
    expect(revoked.body).toMatchObject({ kid, alreadyRevoked: false, replacedBy: expect.any(String) });
    expect(revoked.body.sessionsEnded).toBeGreaterThanOrEqual(1);

    expectError(await httpA.get('/users/me', { token: user.accessToken }), 401, 'invalid_token');
    await until(
      async () => (await httpB.get('/users/me', { token: user.accessToken })).status === 401,
      1_000,
    );
    expect(await jwksKids(httpA)).not.toContain(kid);
    await until(async () => !(await jwksKids(httpB)).includes(kid), 1_000);
    // Its session is over (endSessions); a new signin gets the fresh key's token.
    expectError(
      await httpB.post('/auth/refresh', { body: { refreshToken: user.refreshToken } }),
      401,
      'invalid_refresh_token',
    );
    expect(kidOf((await httpA.signin(user.email)).accessToken)).toBe(revoked.body.replacedBy);

    const [event] = await auditOf('signing_key_revoked');
    expect(event).toMatchObject({ actorId: admin.id, userAgent: 'key-admin-test', detail: { kid } });
    const again = await httpA.post(`/keys/${kid}/revoke`, { token: (await signinRoot(httpA)).accessToken });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ kid, alreadyRevoked: true, replacedBy: null, sessionsEnded: 0 });
  });

  it('revoking the pending key ends the rotation under way: another can start', async () => {
    const token = (await signinRoot(httpA)).accessToken;
    const pending = (await auditOf('signing_key_rotated'))[0]!.detail.kid as string;
    const revoked = await httpA.post(`/keys/${pending}/revoke`, { token });
    expect(revoked.status, revoked.text).toBe(200);
    expect(revoked.body).toMatchObject({ kid: pending, alreadyRevoked: false, replacedBy: null });
    const rotated = await httpB.post('/keys/rotate', { token });
    expect(rotated.status, rotated.text).toBe(201);
    expect(rotated.body.kid).not.toBe(pending);
  });
});
