import { createHmac, createSecretKey } from 'node:crypto';
import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatehouseError } from '../src/errors.js';
import { resolveOptions } from '../src/options.js';
import { TokenVerifier } from '../src/token-verifier.js';
import { GatehousePeer } from './peer.js';

describe('local verification of access tokens', () => {
  let peer: GatehousePeer;
  let key: Awaited<ReturnType<GatehousePeer['addKey']>>;

  beforeAll(async () => {
    peer = await GatehousePeer.start();
    key = await peer.addKey('key-1');
  });
  afterAll(() => peer.down());

  const verifier = (now: () => number = Date.now, overrides: Record<string, unknown> = {}) =>
    new TokenVerifier(
      `${peer.issuer}/.well-known/jwks.json`,
      resolveOptions({
        issuer: peer.issuer,
        clientId: peer.clientId,
        clientSecret: peer.clientSecret,
        ...overrides,
      }),
      now,
    );

  /** The code of the GatehouseError that `verify` rejects with. */
  async function refusal(v: TokenVerifier, token: string): Promise<string> {
    const error = await v.verify(token).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error, 'refused').toBeInstanceOf(GatehouseError);
    return (error as GatehouseError).code;
  }

  it("accepts Gatehouse's token and gives its principal", async () => {
    const token = await peer.userToken(key, {
      sub: 'u-9',
      sid: 's-9',
      roles: ['admin', 'user'],
      amr: ['pwd', 'otp'],
    });
    const principal = await verifier().verify(token);
    expect(principal).toMatchObject({
      userId: 'u-9',
      sessionId: 's-9',
      roles: ['admin', 'user'],
      amr: ['pwd', 'otp'],
    });
    expect(principal.clientId).toBeUndefined();
  });

  it("accepts a service client's token (no sid, client_id and scope) with its scopes and no roles", async () => {
    const token = await peer.userToken(key, {
      sub: 'client-1',
      sid: undefined,
      roles: undefined,
      amr: undefined,
      client_id: 'client-1',
      scope: 'inventory:read orders:read',
    });
    const principal = await verifier().verify(token);
    expect(principal).toMatchObject({
      userId: 'client-1',
      sessionId: undefined,
      clientId: 'client-1',
      scopes: ['inventory:read', 'orders:read'],
      roles: [],
    });
    expect(await refusal(verifier(Date.now, { acceptServiceTokens: false }), token)).toBe('invalid_token');
  });

  it('refuses another issuer, another audience, another typ, and a missing typ', async () => {
    const v = verifier();
    expect(await refusal(v, await peer.userToken(key, { iss: 'https://evil.example' }))).toBe(
      'invalid_token',
    );
    expect(await refusal(v, await peer.userToken(key, { aud: 'another-api' }))).toBe('invalid_token');
    expect(await refusal(v, await peer.userToken(key, {}, { typ: 'JWT' }))).toBe('invalid_token');
    expect(await refusal(v, await peer.userToken(key, {}, { typ: undefined }))).toBe('invalid_token');
  });

  it('refuses alg none, HS256 keyed with the public key, and an algorithm that is not the key’s', async () => {
    const v = verifier();
    const good = await peer.userToken(key);
    const [, payload] = good.split('.');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid: key.kid })).toString('base64url')}.${payload}.`;
    expect(await refusal(v, none)).toBe('invalid_token');

    // Algorithm confusion: an HMAC keyed with the published public key.
    const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'at+jwt', kid: key.kid })).toString(
      'base64url',
    );
    const input = `${header}.${payload}`;
    const hmac = createHmac('sha256', JSON.stringify(key.jwk)).update(input).digest('base64url');
    expect(await refusal(v, `${input}.${hmac}`)).toBe('invalid_token');
    const secret = createSecretKey(Buffer.from('x'.repeat(32)));
    const hs = await new SignJWT({ sub: 'u', sid: 's', roles: [] })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: key.kid })
      .sign(secret);
    expect(await refusal(v, hs)).toBe('invalid_token');

    // An RS256 token whose kid names the ES256 key.
    const rsa = await generateKeyPair('RS256');
    const rs = await peer.userToken({ kid: key.kid, privateKey: rsa.privateKey }, {}, { alg: 'RS256' });
    expect(await refusal(v, rs)).toBe('invalid_token');
  });

  it('refuses a forged signature and a tampered payload', async () => {
    const v = verifier();
    const other = await peer.addKey('key-1', false); // same kid, key not published
    expect(await refusal(v, await peer.userToken(other))).toBe('invalid_token');
    const [h, , s] = (await peer.userToken(key)).split('.');
    const tampered = Buffer.from(JSON.stringify({ sub: 'u', sid: 's', roles: ['admin'] })).toString(
      'base64url',
    );
    expect(await refusal(v, `${h}.${tampered}.${s}`)).toBe('invalid_token');
    expect(await refusal(v, 'not.a.jwt')).toBe('invalid_token');
  });

  it('refuses an expired token (token_expired), within the small clock leeway only', async () => {
    const now = Math.floor(Date.now() / 1000);
    const v = verifier();
    expect(await refusal(v, await peer.userToken(key, { iat: now - 1000, exp: now - 60 }))).toBe(
      'token_expired',
    );
    // 2 s past exp is inside the default 5 s leeway.
    await expect(
      v.verify(await peer.userToken(key, { iat: now - 1000, exp: now - 2 })),
    ).resolves.toBeTruthy();
  });

  it('refuses a token of a shape Gatehouse never issues (no sid and no client_id, roles not strings)', async () => {
    const v = verifier();
    expect(await refusal(v, await peer.userToken(key, { sid: undefined }))).toBe('invalid_token');
    expect(await refusal(v, await peer.userToken(key, { roles: 'admin' }))).toBe('invalid_token');
    expect(await refusal(v, await peer.userToken(key, { roles: undefined }))).toBe('invalid_token');
    expect(await refusal(v, await peer.userToken(key, { sub: undefined }))).toBe('invalid_token');
  });

  it('a cached verification still expires with the token', async () => {
    let clock = Date.now();
    const v = verifier(() => clock);
    const exp = Math.floor(clock / 1000) + 60;
    const token = await peer.userToken(key, { exp });
    await expect(v.verify(token)).resolves.toBeTruthy();
    const fetches = peer.hits.get('/.well-known/jwks.json');
    await expect(v.verify(token)).resolves.toBeTruthy(); // from the cache: no fetch, no signature check
    expect(peer.hits.get('/.well-known/jwks.json')).toBe(fetches);
    clock = exp * 1000 + 6_000; // past exp and the 5 s leeway
    expect(await refusal(v, token)).toBe('token_expired');
  });

  it('follows a rotation: a token of a kid it has not seen refetches the JWKS, once', async () => {
    const v = verifier();
    await v.verify(await peer.userToken(key)); // the JWKS is now cached
    const rotated = await peer.addKey('key-2');
    const before = peer.hits.get('/.well-known/jwks.json') ?? 0;
    await expect(v.verify(await peer.userToken(rotated))).resolves.toMatchObject({ userId: 'user-1' });
    expect(peer.hits.get('/.well-known/jwks.json')).toBe(before + 1);
    // A made-up kid costs at most one fetch a second, and is refused.
    expect(await refusal(v, await peer.userToken({ ...rotated, kid: 'made-up' }))).toBe('invalid_token');
    expect(await refusal(v, await peer.userToken({ ...rotated, kid: 'made-up-2' }))).toBe('invalid_token');
    expect(peer.hits.get('/.well-known/jwks.json')! - before).toBeLessThanOrEqual(3);
  });

  it('answers 503 unavailable, not 401, when the keys cannot be fetched', async () => {
    const offline = new TokenVerifier(
      'http://127.0.0.1:9/.well-known/jwks.json',
      resolveOptions({ issuer: peer.issuer, clientId: 'c', clientSecret: 's' }),
    );
    expect(await refusal(offline, await peer.userToken(key))).toBe('unavailable');
  });

  it('refuses options that would accept a symmetric or no algorithm', () => {
    const base = { issuer: 'http://x', clientId: 'c', clientSecret: 's' };
    expect(() => resolveOptions({ ...base, algorithms: ['HS256'] })).toThrow(/algorithms/);
    expect(() => resolveOptions({ ...base, algorithms: ['none'] })).toThrow(/algorithms/);
    expect(() => resolveOptions({ ...base, issuer: 'not a url' })).toThrow(/issuer/);
    expect(() => resolveOptions({ ...base, clientSecret: '' })).toThrow(/clientSecret/);
  });
});
