import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sign as nodeSign, type KeyObject } from 'node:crypto';

import { CompactSign, createLocalJWKSet, exportJWK, jwtVerify, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import {
  AccessTokenVerifier,
  MAX_TOKEN_LENGTH,
  publicJwks,
  signAccessToken,
  TokenError,
  type AccessTokenClaims,
} from '../../src/keys/access-token.js';
import { JWT_ALGS, type JwtAlg } from '../../src/config/jwt-alg.js';
import { exportPrivateKey, generateSigningKey, importSigningKey } from '../../src/keys/signing-key.js';
import type { SigningKeyMaterial } from '../../src/keys/signing-key.js';
import {
  AUDIENCE,
  b64url,
  claimsFor,
  decodeSegment,
  ISSUER,
  joseSign,
  NOW_MS,
  NOW_S,
  realHeader,
} from './helpers.js';

function makeVerifier(
  key: SigningKeyMaterial,
  extra: { now?: () => number; cacheSize?: number; keys?: SigningKeyMaterial[] } = {},
) {
  const keys = new Map((extra.keys ?? [key]).map((k) => [k.kid, k.publicKey] as const));
  const resolveKey = vi.fn((kid: string): KeyObject | undefined => keys.get(kid));
  const verifier = new AccessTokenVerifier({
    alg: key.alg,
    issuer: ISSUER,
    audience: AUDIENCE,
    resolveKey,
    now: extra.now ?? (() => NOW_MS),
    ...(extra.cacheSize === undefined ? {} : { cacheSize: extra.cacheSize }),
  });
  return { verifier, resolveKey };
}

function captureError(fn: () => unknown): TokenError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TokenError) return e;
    throw new Error(`expected a TokenError, got ${String(e)}`, { cause: e });
  }
  throw new Error('expected verify to throw');
}

function expectInvalid(verifier: AccessTokenVerifier, token: string, message?: RegExp): TokenError {
  const error = captureError(() => verifier.verify(token));
  expect(error.code).toBe('invalid_token');
  if (message) expect(error.message).toMatch(message);
  // Messages never echo the token or any part of it.
  const [h = '', p = ''] = token.split('.');
  if (h.length > 8) expect(error.message).not.toContain(h);
  if (p.length > 8) expect(error.message).not.toContain(p);
  return error;
}

/** Segments of a token: [header, payload, signature]. */
function split(token: string): [string, string, string] {
  const [h = '', p = '', s = ''] = token.split('.');
  return [h, p, s];
}

const keys = Object.fromEntries(JWT_ALGS.map((alg) => [alg, generateSigningKey(alg)])) as Record<
  JwtAlg,
  SigningKeyMaterial
>;

describe('TokenError', () => {
  it('carries a code and a message', () => {
    const e = new TokenError('token_expired', 'token expired');
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('token_expired');
    expect(e.message).toBe('token expired');
    expect(e.name).toBe('TokenError');
  });
});

describe('publicJwks', () => {
  it('lists the public JWKs of every key, in order, without private members', () => {
    const jwks = publicJwks([keys.ES256, keys.EdDSA, keys.RS256]);
    expect(jwks.keys.map((k) => k.kid)).toEqual([keys.ES256.kid, keys.EdDSA.kid, keys.RS256.kid]);
    expect(jwks.keys[0]).toEqual(keys.ES256.publicJwk);
    expect(JSON.stringify(jwks)).not.toMatch(/"(d|p|q|dp|dq|qi)":/);
    expect(publicJwks([])).toEqual({ keys: [] });
  });
});

describe.each(JWT_ALGS)('access tokens (%s)', (alg) => {
  const key = keys[alg];
  const otherAlg = JWT_ALGS.find((a) => a !== alg) ?? 'ES256';

  describe('signing and verifying', () => {
    it('round-trips the claims', () => {
      const claims = claimsFor({ roles: ['user', 'admin'] });
      const token = signAccessToken(key, claims);
      const { verifier } = makeVerifier(key);
      expect(verifier.verify(token)).toEqual(claims);
    });

    it('round-trips amr, and accepts a token without one (issued before amr existed)', () => {
      const { verifier } = makeVerifier(key);
      const withAmr = claimsFor({ amr: ['pwd', 'otp'] });
      expect(verifier.verify(signAccessToken(key, withAmr))).toEqual(withAmr);
      expect(verifier.verify(signAccessToken(key, claimsFor({ jti: 'no-amr' })))).not.toHaveProperty('amr');
    });

    it('emits the header exactly { alg, typ: "at+jwt", kid } and only the known claims', () => {
      const claims = { ...claimsFor(), password: 'leak' } as AccessTokenClaims;
      const [h, p, s] = split(signAccessToken(key, claims));
      expect(Buffer.from(h, 'base64url').toString()).toBe(
        JSON.stringify({ alg, typ: 'at+jwt', kid: key.kid }),
      );
      expect(decodeSegment(p)).toEqual(claimsFor());
      for (const seg of [h, p, s]) expect(seg).toMatch(/^[A-Za-z0-9_-]+$/);
      const sigLength = Buffer.from(s, 'base64url').length;
      expect(sigLength).toBe(alg === 'RS256' ? 256 : 64);
    });

    it('verifies with jose against the published JWKS (interop)', async () => {
      const claims = claimsFor({
        iat: Math.floor(Date.now() / 1000),
        exp: Math.floor(Date.now() / 1000) + 600,
      });
      const token = signAccessToken(key, claims);
      const jwks = createLocalJWKSet(
        JSON.parse(JSON.stringify(publicJwks([keys.ES256, keys.EdDSA, keys.RS256]))) as ReturnType<
          typeof publicJwks
        >,
      );
      const { payload, protectedHeader } = await jwtVerify(token, jwks, {
        issuer: ISSUER,
        audience: AUDIENCE,
        typ: 'at+jwt',
        algorithms: [alg],
      });
      expect(protectedHeader).toEqual({ alg, typ: 'at+jwt', kid: key.kid });
      expect(payload).toEqual(claims);
    });

    it('verifies a token signed with an exported and re-imported key against the original public key', () => {
      const imported = importSigningKey(alg, key.kid, exportPrivateKey(key.privateKey));
      const token = signAccessToken(imported, claimsFor());
      const { verifier } = makeVerifier(key);
      expect(verifier.verify(token).sub).toBe('user-123');
    });

    it('verifies tokens crafted by jose with the same header', async () => {
      const token = await joseSign(key.privateKey, realHeader(key), { ...claimsFor() });
      expect(makeVerifier(key).verifier.verify(token)).toEqual(claimsFor());
    });

    it('accepts typ "application/at+jwt" case-insensitively', async () => {
      const { verifier } = makeVerifier(key);
      for (const typ of ['application/at+jwt', 'AT+JWT', 'Application/At+Jwt']) {
        const token = await joseSign(key.privateKey, { ...realHeader(key), typ }, { ...claimsFor() });
        expect(verifier.verify(token).sub).toBe('user-123');
      }
    });

    it('accepts an aud array containing the audience', async () => {
      const token = await joseSign(key.privateKey, realHeader(key), {
        ...claimsFor(),
        aud: ['other', AUDIENCE],
      });
      expect(makeVerifier(key).verifier.verify(token).aud).toBe(AUDIENCE);
    });

    it('accepts iat up to 60 s in the future and a past nbf', async () => {
      const { verifier } = makeVerifier(key);
      expect(verifier.verify(signAccessToken(key, claimsFor({ iat: NOW_S + 60 }))).iat).toBe(NOW_S + 60);
      const token = await joseSign(key.privateKey, realHeader(key), { ...claimsFor(), nbf: NOW_S - 1 });
      expect(verifier.verify(token).sub).toBe('user-123');
    });

    it('returns frozen claims', () => {
      const claims = makeVerifier(key).verifier.verify(signAccessToken(key, claimsFor()));
      expect(Object.isFrozen(claims)).toBe(true);
      expect(Object.isFrozen(claims.roles)).toBe(true);
      expect(() => claims.roles.push('admin')).toThrow(TypeError);
    });

    it('picks the right key among several', () => {
      const second = generateSigningKey(alg);
      const { verifier } = makeVerifier(key, { keys: [key, second] });
      expect(verifier.verify(signAccessToken(second, claimsFor({ sub: 'two' }))).sub).toBe('two');
      expect(verifier.verify(signAccessToken(key, claimsFor({ sub: 'one' }))).sub).toBe('one');
    });
  });

  describe('algorithm attacks', () => {
    it.each(['none', 'None', 'NONE', 'nOnE'])('rejects unsigned alg %s', (none) => {
      const { verifier, resolveKey } = makeVerifier(key);
      const unsigned = `${b64url({ alg: none, typ: 'at+jwt', kid: key.kid })}.${b64url(claimsFor())}.`;
      expectInvalid(verifier, unsigned, /malformed/);
      // Even with a (real) signature attached, alg none is refused before any key lookup.
      const [, , realSig] = split(signAccessToken(key, claimsFor()));
      expectInvalid(verifier, `${unsigned}${realSig}`, /alg/);
      expect(resolveKey).not.toHaveBeenCalled();
    });

    it('rejects HS256 tokens MAC-ed with the public key (PEM, DER, JWK bytes)', async () => {
      const { verifier, resolveKey } = makeVerifier(key);
      const secrets = [
        Buffer.from(key.publicKey.export({ format: 'pem', type: 'spki' })),
        key.publicKey.export({ format: 'der', type: 'spki' }),
        Buffer.from(JSON.stringify(key.publicJwk)),
        Buffer.from(JSON.stringify(publicJwks([key]))),
      ];
      for (const secret of secrets) {
        const token = await new SignJWT({ sid: 'session-456', roles: ['admin'], jti: 'j' })
          .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: key.kid })
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setSubject('attacker')
          .setIssuedAt(NOW_S)
          .setExpirationTime(NOW_S + 900)
          .sign(new Uint8Array(secret));
        expectInvalid(verifier, token, /alg/);
      }
      expect(resolveKey).not.toHaveBeenCalled();
    });

    it(`rejects a valid ${otherAlg} token (only ${alg} is configured)`, () => {
      const token = signAccessToken(keys[otherAlg], claimsFor());
      const { verifier } = makeVerifier(key, { keys: [key, keys[otherAlg]] });
      expectInvalid(verifier, token, /alg/);
    });

    it('refuses a resolved key whose type does not match the algorithm', async () => {
      const verifier = new AccessTokenVerifier({
        alg,
        issuer: ISSUER,
        audience: AUDIENCE,
        resolveKey: () => keys[otherAlg].publicKey,
        now: () => NOW_MS,
      });
      const token = await joseSign(key.privateKey, realHeader(key), { ...claimsFor() });
      expectInvalid(verifier, token, /key does not match alg/);
    });
  });

  describe('tampering', () => {
    it('rejects a tampered payload (roles → admin) with the original signature', () => {
      const { verifier } = makeVerifier(key);
      const [h, , s] = split(signAccessToken(key, claimsFor()));
      const forged = `${h}.${b64url(claimsFor({ roles: ['admin'] }))}.${s}`;
      expectInvalid(verifier, forged, /signature/);
    });

    it('rejects a tampered header with the original signature', () => {
      const { verifier } = makeVerifier(key);
      const [, p, s] = split(signAccessToken(key, claimsFor()));
      const header = b64url({ alg, typ: 'application/at+jwt', kid: key.kid });
      expectInvalid(verifier, `${header}.${p}.${s}`, /signature/);
    });

    it('rejects a flipped signature bit and a truncated signature', () => {
      const { verifier } = makeVerifier(key);
      const [h, p, s] = split(signAccessToken(key, claimsFor()));
      const sig = Buffer.from(s, 'base64url');
      sig[10] = (sig[10] ?? 0) ^ 0x01;
      expectInvalid(verifier, `${h}.${p}.${sig.toString('base64url')}`, /signature/);
      expectInvalid(verifier, `${h}.${p}.${sig.subarray(0, 32).toString('base64url')}`, /signature/);
    });

    it('rejects a signature of other data', () => {
      const { verifier } = makeVerifier(key);
      const [h, p] = split(signAccessToken(key, claimsFor()));
      const [, , s] = split(signAccessToken(key, claimsFor({ sub: 'someone-else' })));
      expectInvalid(verifier, `${h}.${p}.${s}`, /signature/);
    });

    if (alg === 'ES256') {
      it('rejects a valid ES256 signature in DER form (only IEEE P1363 r||s accepted)', () => {
        const { verifier } = makeVerifier(key);
        const [h, p] = split(signAccessToken(key, claimsFor()));
        const der = nodeSign('sha256', Buffer.from(`${h}.${p}`), { key: key.privateKey, dsaEncoding: 'der' });
        expect(der.length).not.toBe(64);
        expectInvalid(verifier, `${h}.${p}.${der.toString('base64url')}`, /signature/);
      });
    }
  });

  describe('key confusion', () => {
    it('rejects a token from a foreign key carrying our kid', async () => {
      const attacker = generateSigningKey(alg);
      const { verifier } = makeVerifier(key);
      expectInvalid(verifier, signAccessToken({ ...attacker, kid: key.kid }, claimsFor()), /signature/);
      const viaJose = await joseSign(attacker.privateKey, realHeader(key), { ...claimsFor() });
      expectInvalid(verifier, viaJose, /signature/);
    });

    it('rejects an unknown kid', () => {
      const attacker = generateSigningKey(alg);
      const { verifier, resolveKey } = makeVerifier(key);
      expectInvalid(verifier, signAccessToken(attacker, claimsFor()), /unknown key/);
      expect(resolveKey).toHaveBeenCalledWith(attacker.kid);
    });

    it.each([
      ['path-like', '../../etc/passwd'],
      ['SQL-like', "' OR 1=1 --"],
      ['prototype', '__proto__'],
      ['empty', ''],
    ])('rejects a %s kid, passing it to resolveKey only as an opaque string', (_name, kid) => {
      const { verifier, resolveKey } = makeVerifier(key);
      expectInvalid(verifier, signAccessToken({ ...key, kid }, claimsFor()), /unknown key/);
      for (const call of resolveKey.mock.calls) expect(call).toEqual([kid]);
    });

    it('rejects a non-string, missing or oversized kid without a lookup', async () => {
      const { verifier, resolveKey } = makeVerifier(key);
      const payload = { ...claimsFor() };
      for (const kid of [123, null, ['a'], { a: 1 }]) {
        const token = `${b64url({ alg, typ: 'at+jwt', kid })}.${b64url(payload)}.${split(signAccessToken(key, claimsFor()))[2]}`;
        expectInvalid(verifier, token, /unknown key/);
      }
      expectInvalid(verifier, await joseSign(key.privateKey, { alg, typ: 'at+jwt' }, payload), /unknown key/);
      const longKid = 'k'.repeat(300);
      expectInvalid(verifier, await joseSign(key.privateKey, { alg, typ: 'at+jwt', kid: longKid }, payload));
      expect(resolveKey).not.toHaveBeenCalled();
    });

    it("rejects an embedded jwk header carrying the attacker's key", async () => {
      const attacker = generateSigningKey(alg);
      const { verifier } = makeVerifier(key);
      const jwk = await exportJWK(attacker.publicKey);
      // Unknown kid (the attacker's own) …
      const unknownKid = await joseSign(
        attacker.privateKey,
        { alg, typ: 'at+jwt', kid: attacker.kid, jwk },
        { ...claimsFor({ roles: ['admin'] }) },
      );
      expectInvalid(verifier, unknownKid, /unknown key/);
      // … and our kid: the embedded key is ignored, our key fails the signature.
      const knownKid = await joseSign(
        attacker.privateKey,
        { alg, typ: 'at+jwt', kid: key.kid, jwk },
        { ...claimsFor({ roles: ['admin'] }) },
      );
      expectInvalid(verifier, knownKid, /signature/);
      // No kid at all, only the jwk.
      const noKid = await joseSign(attacker.privateKey, { alg, typ: 'at+jwt', jwk }, { ...claimsFor() });
      expectInvalid(verifier, noKid, /unknown key/);
    });
  });

  describe('jku / x5u / x5c headers', () => {
    let server: Server;
    let requests = 0;
    let url = '';

    beforeAll(async () => {
      server = createServer((_req, res) => {
        requests++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: [] }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
    });

    afterAll(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    afterEach(() => {
      vi.unstubAllGlobals();
    });

    it('accepts a valid token carrying jku/x5u/x5c (ignored) and never fetches them', async () => {
      const fetchSpy = vi.fn();
      vi.stubGlobal('fetch', fetchSpy);
      const { verifier } = makeVerifier(key);
      const headers = [{ jku: url }, { x5u: url }, { x5c: ['MIIBfake'] }, { jku: url, x5u: url }];
      for (const extra of headers) {
        const token = await joseSign(key.privateKey, { ...realHeader(key), ...extra }, { ...claimsFor() });
        expect(verifier.verify(token).sub).toBe('user-123');
      }
      // Give any stray request a moment to arrive.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(requests).toBe(0);
      expect(fetchSpy).not.toHaveBeenCalled();
    });

    it('does not let jku point at an attacker key set', async () => {
      const attacker = generateSigningKey(alg);
      const { verifier } = makeVerifier(key);
      const token = await joseSign(
        attacker.privateKey,
        { alg, typ: 'at+jwt', kid: attacker.kid, jku: url },
        { ...claimsFor() },
      );
      expectInvalid(verifier, token, /unknown key/);
      expect(requests).toBe(0);
    });
  });

  describe('header checks (signed with the real key)', () => {
    it.each([
      ['JWT', 'JWT'],
      ['jwt', 'jwt'],
      ['application/jwt', 'application/jwt'],
      ['at+jwt with spaces', ' at+jwt'],
    ])('rejects typ %s', async (_name, typ) => {
      const token = await joseSign(key.privateKey, { ...realHeader(key), typ }, { ...claimsFor() });
      expectInvalid(makeVerifier(key).verifier, token, /typ/);
    });

    it('rejects a missing typ', async () => {
      const token = await joseSign(key.privateKey, { alg, kid: key.kid }, { ...claimsFor() });
      expectInvalid(makeVerifier(key).verifier, token, /typ/);
    });

    it('rejects a crit header', async () => {
      const token = await joseSign(
        key.privateKey,
        { ...realHeader(key), crit: ['urn:example:x'], 'urn:example:x': true },
        { ...claimsFor() },
        { 'urn:example:x': true },
      );
      expect(decodeSegment(split(token)[0])).toHaveProperty('crit');
      expectInvalid(makeVerifier(key).verifier, token, /crit/);
    });
  });

  describe('claim checks (signed with the real key)', () => {
    const cases: [string, Record<string, unknown>][] = [
      ['wrong iss', { iss: 'https://evil.test' }],
      ['missing iss', { iss: undefined }],
      ['wrong aud', { aud: 'other-api' }],
      ['aud array without us', { aud: ['a', 'b'] }],
      ['missing aud', { aud: undefined }],
      ['empty sub', { sub: '' }],
      ['numeric sub', { sub: 42 }],
      ['missing sid', { sid: undefined }],
      ['missing jti', { jti: undefined }],
      ['roles not an array', { roles: 'admin' }],
      ['roles with a non-string', { roles: ['user', 1] }],
      ['missing roles', { roles: undefined }],
      ['amr not an array', { amr: 'pwd' }],
      ['amr with a non-string', { amr: ['pwd', 1] }],
      ['fractional iat', { iat: NOW_S + 0.5 }],
      ['string exp', { exp: String(NOW_S + 900) }],
      ['missing exp', { exp: undefined }],
      ['non-numeric nbf', { nbf: 'soon' }],
    ];

    it.each(cases)('rejects %s', async (_name, override) => {
      const payload: Record<string, unknown> = { ...claimsFor(), ...override };
      for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
      const token = await joseSign(key.privateKey, realHeader(key), payload);
      expectInvalid(makeVerifier(key).verifier, token);
    });

    it('rejects a payload that is not a JSON object', async () => {
      const { verifier } = makeVerifier(key);
      for (const body of ['[1,2]', '"str"', 'null', '{not json']) {
        const token = await new CompactSign(new TextEncoder().encode(body))
          .setProtectedHeader(realHeader(key))
          .sign(key.privateKey);
        expectInvalid(verifier, token, /payload/);
      }
    });

    it('rejects a future nbf', async () => {
      const token = await joseSign(key.privateKey, realHeader(key), { ...claimsFor(), nbf: NOW_S + 30 });
      expectInvalid(makeVerifier(key).verifier, token, /not yet valid/);
    });

    it('rejects an iat more than 60 s in the future', () => {
      const token = signAccessToken(key, claimsFor({ iat: NOW_S + 61, exp: NOW_S + 961 }));
      expectInvalid(makeVerifier(key).verifier, token, /future/);
    });
  });

  describe('expiry', () => {
    it('reports token_expired at and after exp', () => {
      const token = signAccessToken(key, claimsFor({ exp: NOW_S + 10 }));
      for (const nowMs of [NOW_MS + 10_000, NOW_MS + 11_000]) {
        const { verifier } = makeVerifier(key, { now: () => nowMs });
        const error = captureError(() => verifier.verify(token));
        expect(error.code).toBe('token_expired');
      }
      const { verifier } = makeVerifier(key, { now: () => NOW_MS + 9_999 });
      expect(verifier.verify(token).exp).toBe(NOW_S + 10);
    });

    it('reports token_expired on a cache hit once past exp', () => {
      let now = NOW_MS;
      const { verifier, resolveKey } = makeVerifier(key, { now: () => now });
      const token = signAccessToken(key, claimsFor({ exp: NOW_S + 60 }));
      expect(verifier.verify(token).sub).toBe('user-123');
      now = NOW_MS + 59_000;
      expect(verifier.verify(token).sub).toBe('user-123');
      expect(verifier.cacheStats().hits).toBe(1);
      now = NOW_MS + 60_000;
      const error = captureError(() => verifier.verify(token));
      expect(error.code).toBe('token_expired');
      expect(verifier.cacheStats().hits).toBe(2);
      expect(resolveKey).toHaveBeenCalledTimes(1);
      // The expired entry is dropped; later calls still fail.
      expect(captureError(() => verifier.verify(token)).code).toBe('token_expired');
      expect(verifier.cacheStats().size).toBe(0);
    });

    it('checks the signature before expiry (a forged expired token is invalid, not expired)', () => {
      const attacker = generateSigningKey(alg);
      const token = signAccessToken({ ...attacker, kid: key.kid }, claimsFor({ exp: NOW_S - 10 }));
      expectInvalid(makeVerifier(key).verifier, token, /signature/);
    });
  });

  describe('cache', () => {
    it('verifies each distinct token once', () => {
      const { verifier, resolveKey } = makeVerifier(key);
      const token = signAccessToken(key, claimsFor());
      const first = verifier.verify(token);
      for (let i = 0; i < 5; i++) expect(verifier.verify(token)).toBe(first);
      expect(resolveKey).toHaveBeenCalledTimes(1);
      expect(verifier.cacheStats()).toEqual({ size: 1, hits: 5, misses: 1 });
    });

    it('never caches failures', () => {
      const { verifier, resolveKey } = makeVerifier(key);
      const [h, p, s] = split(signAccessToken(key, claimsFor()));
      const sig = Buffer.from(s, 'base64url');
      sig[5] = (sig[5] ?? 0) ^ 0xff;
      const bad = `${h}.${p}.${sig.toString('base64url')}`;
      expectInvalid(verifier, bad);
      expectInvalid(verifier, bad);
      expect(resolveKey).toHaveBeenCalledTimes(2);
      expect(verifier.cacheStats().size).toBe(0);
    });

    it('a cached token does not validate a different token string', () => {
      const { verifier } = makeVerifier(key);
      const token = signAccessToken(key, claimsFor());
      verifier.verify(token);
      const [h, , s] = split(token);
      expectInvalid(verifier, `${h}.${b64url(claimsFor({ roles: ['admin'] }))}.${s}`, /signature/);
    });

    it('is bounded (LRU eviction)', () => {
      const { verifier, resolveKey } = makeVerifier(key, { cacheSize: 2 });
      const [a, b, c] = ['a', 'b', 'c'].map((jti) => signAccessToken(key, claimsFor({ jti }))) as [
        string,
        string,
        string,
      ];
      verifier.verify(a);
      verifier.verify(b);
      verifier.verify(c); // evicts a
      expect(verifier.cacheStats().size).toBe(2);
      verifier.verify(c);
      expect(resolveKey).toHaveBeenCalledTimes(3);
      verifier.verify(a);
      expect(resolveKey).toHaveBeenCalledTimes(4);
    });

    it('can be disabled with cacheSize 0 and cleared', () => {
      const token = signAccessToken(key, claimsFor());
      const off = makeVerifier(key, { cacheSize: 0 });
      off.verifier.verify(token);
      off.verifier.verify(token);
      expect(off.resolveKey).toHaveBeenCalledTimes(2);

      const on = makeVerifier(key);
      on.verifier.verify(token);
      on.verifier.clearCache();
      on.verifier.verify(token);
      expect(on.resolveKey).toHaveBeenCalledTimes(2);
    });
  });

  describe('malformed input', () => {
    const valid = () => signAccessToken(key, claimsFor());

    it.each([
      ['empty', () => ''],
      ['one segment', () => split(valid())[0]],
      ['two segments', () => split(valid()).slice(0, 2).join('.')],
      ['four segments', () => `${valid()}.${split(valid())[2]}`],
      ['empty signature', () => `${split(valid()).slice(0, 2).join('.')}.`],
      ['empty header', () => `.${split(valid()).slice(1).join('.')}`],
      ['padding', () => `${valid()}==`],
      ['standard base64 chars', () => valid().replace(/-/g, '+').replace(/_/g, '/') + '+/'],
      ['whitespace', () => ` ${valid()}`],
      ['bearer prefix', () => `Bearer ${valid()}`],
      ['non-ascii', () => `${valid()}é`],
      ['header not JSON', () => `${b64url('not json')}.${split(valid())[1]}.${split(valid())[2]}`],
      ['header is an array', () => `${b64url([1])}.${split(valid())[1]}.${split(valid())[2]}`],
      ['header is null', () => `${b64url('null')}.${split(valid())[1]}.${split(valid())[2]}`],
      [
        'non-canonical base64url (stray bits)',
        () => {
          const [h, p, s] = split(valid());
          // The last character of a 64-byte signature carries 4 unused bits: set one.
          const last = s.at(-1) ?? 'A';
          const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
          const bumped = alphabet[alphabet.indexOf(last) + 1] ?? 'B';
          return `${h}.${p}.${s.slice(0, -1)}${bumped}`;
        },
      ],
    ])('rejects %s', (_name, make) => {
      const { verifier, resolveKey } = makeVerifier(key);
      const token = make();
      expectInvalid(verifier, token);
      expect(resolveKey).not.toHaveBeenCalled();
    });

    it(`rejects tokens longer than ${MAX_TOKEN_LENGTH} characters before parsing`, async () => {
      const { verifier, resolveKey } = makeVerifier(key);
      const big = await joseSign(key.privateKey, realHeader(key), {
        ...claimsFor(),
        roles: Array.from({ length: 1000 }, (_, i) => `role-${i}`),
      });
      expect(big.length).toBeGreaterThan(MAX_TOKEN_LENGTH);
      expectInvalid(verifier, big, /malformed/);
      expectInvalid(verifier, 'a'.repeat(1_000_000), /malformed/);
      expect(resolveKey).not.toHaveBeenCalled();
    });

    it('rejects non-string input', () => {
      const { verifier } = makeVerifier(key);
      for (const input of [undefined, null, 42, {}, Buffer.from(valid())] as unknown[]) {
        expect(captureError(() => verifier.verify(input as string)).code).toBe('invalid_token');
      }
    });
  });
});

describe('AccessTokenVerifier options', () => {
  it('requires issuer and audience and a sane cacheSize', () => {
    const base = { alg: 'ES256' as const, issuer: ISSUER, audience: AUDIENCE, resolveKey: () => undefined };
    expect(() => new AccessTokenVerifier({ ...base, issuer: '' })).toThrow(/issuer/);
    expect(() => new AccessTokenVerifier({ ...base, audience: '' })).toThrow(/audience/);
    expect(() => new AccessTokenVerifier({ ...base, cacheSize: -1 })).toThrow(/cacheSize/);
    expect(() => new AccessTokenVerifier({ ...base, cacheSize: 1.5 })).toThrow(/cacheSize/);
  });

  it('uses the real clock by default', () => {
    const key = keys.EdDSA;
    const verifier = new AccessTokenVerifier({
      alg: 'EdDSA',
      issuer: ISSUER,
      audience: AUDIENCE,
      resolveKey: (kid) => (kid === key.kid ? key.publicKey : undefined),
    });
    const nowS = Math.floor(Date.now() / 1000);
    expect(verifier.verify(signAccessToken(key, claimsFor({ iat: nowS, exp: nowS + 60 }))).sub).toBe(
      'user-123',
    );
    expect(
      captureError(() =>
        verifier.verify(signAccessToken(key, claimsFor({ iat: nowS - 120, exp: nowS - 60 }))),
      ).code,
    ).toBe('token_expired');
  });
});
