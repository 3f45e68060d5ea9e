import { sql } from 'drizzle-orm';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { signingKeys } from '../../src/database/schema.js';
import { SigningKeysService } from '../../src/keys/signing-keys.service.js';
import { Http } from '../support/http.js';
import { createTestApp, type TestApp } from '../support/test-app.js';

const kidOf = (token: string) => decodeProtectedHeader(token).kid;

describe('signing key rotation', () => {
  let t: TestApp;
  let http: Http;
  let keys: SigningKeysService;

  beforeEach(async () => {
    t = await createTestApp({ JWKS_MAX_AGE: '5m', ACCESS_TOKEN_TTL: '15m' });
    http = new Http(t.app);
    keys = t.app.get(SigningKeysService);
  });
  afterEach(() => t.close());

  /** Moves every key's activation back in time, as if `seconds` had passed. */
  async function travel(seconds: number) {
    await t.connection.db
      .update(signingKeys)
      .set({ activatesAt: sql`${signingKeys.activatesAt} - make_interval(secs => ${seconds})` });
    await keys.reload();
  }

  it('stores the private key encrypted, never in clear', async () => {
    const [row] = await t.connection.db.select().from(signingKeys);
    expect(row!.privateKeyEncrypted).toMatch(/^v1\./);
    expect(row!.privateKeyEncrypted).not.toContain('PRIVATE KEY');
    expect(JSON.stringify(row!.publicJwk)).not.toMatch(/"d"/);
  });

  it('publishes a rotated key first, signs with it only after the JWKS max-age, and retires the old one last', async () => {
    const before = await http.signup();
    const oldKid = kidOf(before.accessToken);

    const { kid: newKid, activatesAt } = await keys.rotate();
    expect(activatesAt.getTime()).toBeGreaterThanOrEqual(Date.now() + 300_000);

    // Published at once, but not yet signing.
    let jwks = (await http.get('/.well-known/jwks.json')).body;
    expect(jwks.keys.map((key: { kid: string }) => key.kid).sort()).toEqual([oldKid, newKid].sort());
    expect(kidOf((await http.signin(before.email)).accessToken)).toBe(oldKid);

    // Past its activation (the max-age and one reload interval): the new key signs;
    // tokens of the old key still work.
    await travel(Math.ceil((activatesAt.getTime() - Date.now()) / 1000) + 1);
    const after = await http.signin(before.email);
    expect(kidOf(after.accessToken)).toBe(newKid);
    expect((await http.get('/users/me', { token: before.accessToken })).status).toBe(200);
    jwks = (await http.get('/.well-known/jwks.json')).body;
    for (const token of [before.accessToken, after.accessToken]) {
      await expect(
        jwtVerify(token, createLocalJWKSet(jwks), { issuer: t.config.jwt.issuer, audience: 'gatehouse' }),
      ).resolves.toBeTruthy();
    }

    // Still published while a token it signed may be unexpired (TTL + clock skew)...
    await travel(15 * 60);
    jwks = (await http.get('/.well-known/jwks.json')).body;
    expect(jwks.keys.map((key: { kid: string }) => key.kid).sort()).toEqual([oldKid, newKid].sort());
    // ...and unpublished after that.
    await travel(61);
    jwks = (await http.get('/.well-known/jwks.json')).body;
    expect(jwks.keys.map((key: { kid: string }) => key.kid)).toEqual([newKid]);
  });

  it('keeps the keys across restarts of the key service (loaded from the database)', async () => {
    const user = await http.signup();
    const fresh = new SigningKeysService(t.config, t.connection.db);
    await fresh.onModuleInit();
    fresh.onModuleDestroy();
    expect(fresh.currentKey().kid).toBe(kidOf(user.accessToken));
  });

  it('refuses to start with a different KEY_ENCRYPTION_SECRET than the keys were stored with', async () => {
    const other = new SigningKeysService(
      { ...t.config, keyEncryptionSecret: 'another-secret-another-secret-another-secret' },
      t.connection.db,
    );
    await expect(other.onModuleInit()).rejects.toThrow(/KEY_ENCRYPTION_SECRET/);
  });
});
