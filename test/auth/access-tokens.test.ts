import { createPublicKey, randomUUID } from 'node:crypto';
import { CompactSign, exportJWK, exportSPKI, generateKeyPair, jwtVerify } from 'jose';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { expectError, Http } from '../support/http.js';
import { createTestApp, useTestApp } from '../support/test-app.js';
import {
  assemble,
  b64url,
  decodeJwt,
  fetchJwks,
  kidOf,
  localJwks,
  NO_THROTTLE,
  signHs256,
  signWithServiceKey,
  UUID,
} from '../support/tokens.js';

/** GET /users/me with a raw Authorization header (or none). */
async function me(http: Http, authorization?: string) {
  return http.get('/users/me', { headers: authorization === undefined ? {} : { authorization } });
}

async function expectRejected(http: Http, token: string, code = 'invalid_token') {
  const reply = await me(http, `Bearer ${token}`);
  expectError(reply, 401, code);
  // The token is never echoed back.
  expect(reply.text).not.toContain(token);
  return reply;
}

async function foreignKey(alg: 'ES256' | 'EdDSA' | 'RS256' = 'ES256') {
  return generateKeyPair(alg, { extractable: true });
}

describe('access token attacks (ES256, the default)', () => {
  const { t, http } = useTestApp(NO_THROTTLE);
  let victim: Awaited<ReturnType<Http['signup']>>;
  let other: Awaited<ReturnType<Http['signup']>>;
  let realKid: string;

  beforeAll(async () => {
    victim = await http.signup();
    other = await http.signup();
    realKid = kidOf(victim.accessToken)!;
    // Sanity: the genuine token works, so every rejection below is about the forgery.
    expect((await me(http, `Bearer ${victim.accessToken}`)).status).toBe(200);
  });

  describe('the Authorization header', () => {
    it('answers 401 missing_token without one', async () => {
      expectError(await me(http), 401, 'missing_token');
    });

    it.each([
      ['Basic credentials', `Basic ${Buffer.from('user:pass').toString('base64')}`],
      ['a Basic scheme around a valid token', 'Basic {token}'],
      ['a Token scheme', 'Token {token}'],
      ['Bearer without a token', 'Bearer'],
      ['Bearer with only spaces', 'Bearer    '],
      ['two tokens', 'Bearer {token} {token}'],
      ['the bare token without a scheme', '{token}'],
      ['an empty header', ''],
    ])('answers 401 invalid_token (or missing_token) for %s', async (_label, template) => {
      const reply = await me(http, template.replaceAll('{token}', victim.accessToken));
      expect(reply.status, reply.text).toBe(401);
      expect(['invalid_token', 'missing_token']).toContain(reply.body.code);
    });

    it('answers exactly invalid_token for a Basic header', async () => {
      expectError(await me(http, 'Basic dXNlcjpwYXNz'), 401, 'invalid_token');
    });

    it.each(['garbage', 'a.b.c', '..', 'eyJhbGciOiJFUzI1NiJ9', 'eyJ.eyJ.eyJ', 'x'.repeat(9000), '%00%00'])(
      'answers 401 invalid_token for the garbage token %#',
      async (token) => {
        await expectRejected(http, token);
      },
    );

    it('accepts the Bearer scheme case-insensitively (RFC 7235)', async () => {
      expect((await me(http, `bearer ${victim.accessToken}`)).status).toBe(200);
      expect((await me(http, `BEARER ${victim.accessToken}`)).status).toBe(200);
    });
  });

  describe('algorithm attacks', () => {
    it.each(['none', 'None', 'NONE', 'nOnE'])(
      'rejects alg %s (with and without a signature)',
      async (alg) => {
        const { header, payload, segments } = decodeJwt(victim.accessToken);
        await expectRejected(http, assemble({ ...header, alg }, payload));
        await expectRejected(http, assemble({ ...header, alg }, payload, segments[2]));
        await expectRejected(http, assemble({ alg, typ: 'at+jwt' }, { ...payload, roles: ['admin'] }));
      },
    );

    it('rejects HS256 tokens whose HMAC key is the published public key (JWK JSON, PEM, DER)', async () => {
      const jwks = await fetchJwks(http);
      const jwk = jwks.keys.find((k) => k.kid === realKid)!;
      expect(jwk).toBeDefined();
      const publicKey = createPublicKey({ key: jwk as any, format: 'jwk' });
      const secrets: (string | Buffer)[] = [
        JSON.stringify(jwk),
        JSON.stringify(jwks),
        publicKey.export({ type: 'spki', format: 'pem' }),
        (publicKey.export({ type: 'spki', format: 'pem' }) as string).trim(),
        publicKey.export({ type: 'spki', format: 'der' }),
        Buffer.from(jwk.x, 'base64url'),
      ];
      const { payload } = decodeJwt(victim.accessToken);
      for (const secret of secrets) {
        for (const alg of ['HS256', 'HS384', 'HS512']) {
          await expectRejected(http, signHs256({ alg, typ: 'at+jwt', kid: realKid }, payload, secret));
        }
      }
    });

    it('rejects a token whose header claims another asymmetric alg for the same key', async () => {
      const { header, payload, segments } = decodeJwt(victim.accessToken);
      for (const alg of ['ES384', 'ES512', 'RS256', 'PS256', 'EdDSA', 'ES256K']) {
        await expectRejected(http, `${b64url({ ...header, alg })}.${segments[1]}.${segments[2]}`);
      }
      // And the original, untouched, still works.
      expect((await me(http, `Bearer ${assemble(header, payload, segments[2])}`)).status).toBe(200);
    });
  });

  describe('tampering', () => {
    it.each([
      ['roles: [admin]', (p: Record<string, any>) => ({ ...p, roles: ['admin'] })],
      ['roles: [user, admin]', (p: Record<string, any>) => ({ ...p, roles: ['user', 'admin'] })],
      ['another sub', (p: Record<string, any>) => ({ ...p, sub: other.id })],
      ['another sid', (p: Record<string, any>) => ({ ...p, sid: decodeJwt(other.accessToken).payload.sid })],
      ['a later exp', (p: Record<string, any>) => ({ ...p, exp: p.exp + 365 * 24 * 3600 })],
    ])('rejects a payload with %s under the original signature', async (_label, change) => {
      const { header, payload, segments } = decodeJwt(victim.accessToken);
      await expectRejected(http, assemble(header, change(payload), segments[2]));
    });

    it('rejects a flipped bit in the signature and a truncated signature', async () => {
      const [h, p, s] = decodeJwt(victim.accessToken).segments;
      const bytes = Buffer.from(s, 'base64url');
      bytes[10] = bytes[10]! ^ 0x01;
      await expectRejected(http, `${h}.${p}.${bytes.toString('base64url')}`);
      await expectRejected(http, `${h}.${p}.${s.slice(0, -4)}`);
      await expectRejected(http, `${h}.${p}.`);
      await expectRejected(http, `${h}.${p}`);
    });

    it('rejects a non-canonical encoding of the same token (padding, base64 alphabet)', async () => {
      const [h, p, s] = decodeJwt(victim.accessToken).segments;
      await expectRejected(http, `${h}=.${p}.${s}`);
      await expectRejected(http, `${h}.${p}.${Buffer.from(s, 'base64url').toString('base64')}`);
    });
  });

  describe('foreign keys', () => {
    it('rejects a token signed by a foreign ES256 key under the real kid', async () => {
      const { privateKey } = await foreignKey();
      const { payload } = decodeJwt(victim.accessToken);
      const token = await new CompactSign(
        new TextEncoder().encode(JSON.stringify({ ...payload, roles: ['admin'] })),
      )
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: realKid })
        .sign(privateKey);
      await expectRejected(http, token);
    });

    it('rejects an unknown kid, a missing kid and a non-string kid', async () => {
      const { privateKey } = await foreignKey();
      const { payload } = decodeJwt(victim.accessToken);
      for (const kid of [
        'unknown-kid',
        `${realKid}x`,
        '../../etc/passwd',
        '',
        undefined,
        42,
        [realKid],
        { kid: realKid },
      ]) {
        const header: Record<string, unknown> = { alg: 'ES256', typ: 'at+jwt' };
        if (kid !== undefined) header.kid = kid;
        const token = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
          .setProtectedHeader(header as any)
          .sign(privateKey);
        await expectRejected(http, token);
      }
      // The real signature under an unknown kid is rejected too: the kid picks the key.
      const { header, segments } = decodeJwt(victim.accessToken);
      await expectRejected(
        http,
        `${b64url({ ...header, kid: 'unknown-kid' })}.${segments[1]}.${segments[2]}`,
      );
    });

    it('ignores an embedded jwk (and jku / x5u / x5c) header carrying the attacker key', async () => {
      const { publicKey, privateKey } = await foreignKey();
      const attackerJwk = { ...(await exportJWK(publicKey)), kid: 'attacker', alg: 'ES256', use: 'sig' };
      const { payload } = decodeJwt(victim.accessToken);
      const headers: Record<string, unknown>[] = [
        { jwk: attackerJwk },
        { jwk: attackerJwk, kid: 'attacker' },
        { jwk: { ...attackerJwk, kid: realKid }, kid: realKid },
        { jku: 'https://attacker.example/jwks.json', kid: 'attacker' },
        { x5u: 'https://attacker.example/cert.pem', kid: 'attacker' },
        { x5c: ['MIIB'], kid: realKid },
      ];
      for (const extra of headers) {
        const token = await new CompactSign(
          new TextEncoder().encode(JSON.stringify({ ...payload, roles: ['admin'] })),
        )
          .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', ...extra })
          .sign(privateKey);
        await expectRejected(http, token);
      }
    });
  });

  describe('token type confusion', () => {
    it('rejects a refresh token used as an access token', async () => {
      await expectRejected(http, victim.refreshToken);
      // Also when it is dressed up as a JWT segment.
      await expectRejected(
        http,
        `${b64url({ alg: 'ES256', typ: 'at+jwt', kid: realKid })}.${victim.refreshToken}.x`,
      );
    });

    it('rejects an access token used as a refresh token (header and body)', async () => {
      const viaHeader = await http.post('/auth/refresh', { token: victim.accessToken });
      expectError(viaHeader, 401, 'invalid_refresh_token');
      const viaBody = await http.post('/auth/refresh', { body: { refreshToken: victim.accessToken } });
      expectError(viaBody, 401, 'invalid_refresh_token');
      // Neither attempt touched the session.
      expect((await me(http, `Bearer ${victim.accessToken}`)).status).toBe(200);
    });
  });

  describe('the issued token', () => {
    it('verifies with jose against the published JWKS, with issuer, audience and typ at+jwt', async () => {
      const jwks = await fetchJwks(http);
      for (const key of jwks.keys) {
        for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key).not.toHaveProperty(member);
      }
      const { payload, protectedHeader } = await jwtVerify(victim.accessToken, await localJwks(http), {
        issuer: 'http://localhost:3000', // PUBLIC_URL's default
        audience: 'gatehouse',
        typ: 'at+jwt',
        algorithms: ['ES256'],
      });
      expect(protectedHeader.alg).toBe('ES256');
      expect(protectedHeader.typ).toBe('at+jwt');
      expect(jwks.keys.map((k) => k.kid)).toContain(protectedHeader.kid);
      expect(jwks.keys.find((k) => k.kid === protectedHeader.kid)).toMatchObject({ kty: 'EC', crv: 'P-256' });
      expect(payload.sub).toBe(victim.id);
      expect(payload.sid).toMatch(UUID);
      expect(payload.jti).toMatch(UUID);
      expect(payload.roles).toEqual(['user']);
      expect(payload.exp! - payload.iat!).toBe(900);
      expect(Math.abs(payload.iat! * 1000 - Date.now())).toBeLessThan(5 * 60_000);
    });

    it('serves the JWKS publicly with a Cache-Control max-age', async () => {
      const reply = await http.get('/.well-known/jwks.json');
      expect(reply.status).toBe(200);
      expect(String(reply.headers['cache-control'])).toMatch(/max-age=\d+/);
    });

    it('gives every token its own jti', async () => {
      const a = await http.signin(victim.email);
      const b = await http.signin(victim.email);
      const jtis = [victim, a, b].map((x) => decodeJwt(x.accessToken).payload.jti);
      expect(new Set(jtis).size).toBe(3);
    });
  });

  describe('claims behind a valid signature (tokens signed in-process with the service key)', () => {
    const now = () => Math.floor(Date.now() / 1000);
    const claims = () => ({
      ...decodeJwt(victim.accessToken).payload,
      iat: now(),
      exp: now() + 600,
      jti: randomUUID(),
    });

    it('accepts a correctly formed token (the helper itself is sound)', async () => {
      const reply = await me(http, `Bearer ${signWithServiceKey(t, claims())}`);
      expect(reply.status, reply.text).toBe(200);
      expect(reply.body.id).toBe(victim.id);
    });

    it('answers 401 token_expired for an exp in the past', async () => {
      const token = signWithServiceKey(t, { ...claims(), iat: now() - 1000, exp: now() - 1 });
      const reply = await expectRejected(http, token, 'token_expired');
      expect(reply.body.message).not.toContain(token);
    });

    it.each([
      ['another issuer', { iss: 'evil' }],
      ['another audience', { aud: 'other-service' }],
      ['an audience list without ours', { aud: ['other-service'] }],
      ['no sub', { sub: undefined }],
      ['no sid', { sid: undefined }],
      ['roles not an array', { roles: 'admin' }],
      ['a string exp', { exp: String(Math.floor(Date.now() / 1000) + 600) }],
      ['nbf in the future', { nbf: Math.floor(Date.now() / 1000) + 3600 }],
      ['iat far in the future', { iat: Math.floor(Date.now() / 1000) + 3600 }],
    ])('answers 401 invalid_token for %s', async (_label, change) => {
      await expectRejected(http, signWithServiceKey(t, { ...claims(), ...change }));
    });

    it.each([
      ['typ JWT', { typ: 'JWT' }],
      ['no typ', { typ: undefined }],
      ['typ refresh', { typ: 'rt+jwt' }],
      ['a crit header', { crit: ['exp'], exp: 1 }],
    ])('answers 401 invalid_token for %s', async (_label, header) => {
      const token = signWithServiceKey(t, claims(), header);
      await expectRejected(http, token);
    });

    it('answers 401 for a sid of another user bound to this sub, and an unknown sid', async () => {
      const otherSid = decodeJwt(other.accessToken).payload.sid;
      const mixed = signWithServiceKey(t, { ...claims(), sid: otherSid });
      const mixedReply = await me(http, `Bearer ${mixed}`);
      expect(mixedReply.status, mixedReply.text).toBe(401);
      const unknown = signWithServiceKey(t, { ...claims(), sid: randomUUID() });
      const unknownReply = await me(http, `Bearer ${unknown}`);
      expect(unknownReply.status, unknownReply.text).toBe(401);
    });

    it('takes the roles from the user, not from the token', async () => {
      const token = signWithServiceKey(t, { ...claims(), roles: ['admin'] });
      const reply = await me(http, `Bearer ${token}`);
      // Signed by the service itself, so it may pass authentication; what it must not do is make an admin.
      if (reply.status === 200) expect(reply.body.roles).toEqual(['user']);
      const users = await http.get('/users', { headers: { authorization: `Bearer ${token}` } });
      expect([401, 403]).toContain(users.status);
    });
  });
});

describe('access token expiry with a faked clock', () => {
  afterEach(() => vi.useRealTimers());

  it('answers 401 token_expired once ACCESS_TOKEN_TTL has passed, also for a token verified (and cached) before', async () => {
    // The clock is faked before the app exists, so that everything in it reads the same Date.
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    // A lifetime long enough that the real clock (which keeps running, slowly on a busy machine)
    // cannot expire the token before the faked jump does.
    const t = await createTestApp({ ...NO_THROTTLE, ACCESS_TOKEN_TTL: '2m' });
    try {
      const http = new Http(t.app);
      const unused = await http.signup();
      const used = await http.signup();
      expect(used.expiresIn).toBe(120);
      expect((await me(http, `Bearer ${used.accessToken}`)).status).toBe(200);
      vi.setSystemTime(Date.now() + 90_000);
      expect((await me(http, `Bearer ${used.accessToken}`)).status).toBe(200);
      vi.setSystemTime(Date.now() + 35_000);
      await expectRejected(http, used.accessToken, 'token_expired');
      await expectRejected(http, unused.accessToken, 'token_expired');
      // The session is still alive: refreshing gives a working token.
      const refreshed = await http.post('/auth/refresh', { body: { refreshToken: used.refreshToken } });
      expect(refreshed.status, refreshed.text).toBe(200);
      expect((await me(http, `Bearer ${refreshed.body.accessToken}`)).status).toBe(200);
    } finally {
      await t.close();
    }
  });
});

describe.each(['EdDSA', 'RS256'] as const)('JWT_ALG=%s', (alg) => {
  const { http } = useTestApp({
    ...NO_THROTTLE,
    JWT_ALG: alg,
    JWT_ISSUER: 'https://auth.example.test',
    JWT_AUDIENCE: 'api.example.test',
  });

  it(`issues ${alg} tokens that verify via the JWKS with the configured issuer and audience`, async () => {
    const user = await http.signup();
    const { protectedHeader, payload } = await jwtVerify(user.accessToken, await localJwks(http), {
      issuer: 'https://auth.example.test',
      audience: 'api.example.test',
      typ: 'at+jwt',
      algorithms: [alg],
    });
    expect(protectedHeader.alg).toBe(alg);
    expect(protectedHeader.kid).toBeTruthy();
    expect(payload.sub).toBe(user.id);
    const jwks = await fetchJwks(http);
    expect(jwks.keys.every((k) => k.alg === alg)).toBe(true);
    for (const key of jwks.keys) {
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key).not.toHaveProperty(member);
    }
    expect((await me(http, `Bearer ${user.accessToken}`)).status).toBe(200);
  });

  it('answers 401 invalid_refresh_token (header and body) for its access token used as a refresh token', async () => {
    const user = await http.signup();
    expectError(await http.post('/auth/refresh', { token: user.accessToken }), 401, 'invalid_refresh_token');
    const viaBody = await http.post('/auth/refresh', { body: { refreshToken: user.accessToken } });
    expectError(viaBody, 401, 'invalid_refresh_token');
  });

  it('rejects tokens of the other algorithms, even under its own kid', async () => {
    const user = await http.signup();
    const { header, payload } = decodeJwt(user.accessToken);
    for (const otherAlg of (['ES256', 'EdDSA', 'RS256'] as const).filter((a) => a !== alg)) {
      const { privateKey } = await foreignKey(otherAlg);
      const token = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
        .setProtectedHeader({ alg: otherAlg, typ: 'at+jwt', kid: header.kid })
        .sign(privateKey);
      await expectRejected(http, token);
    }
  });

  it('rejects HS256 signed with its public key (PEM and JWK)', async () => {
    const user = await http.signup();
    const { header, payload } = decodeJwt(user.accessToken);
    const jwk = (await fetchJwks(http)).keys.find((k) => k.kid === header.kid)!;
    const pem = await exportSPKI(createPublicKey({ key: jwk as any, format: 'jwk' }));
    for (const secret of [pem, JSON.stringify(jwk)]) {
      await expectRejected(
        http,
        signHs256({ alg: 'HS256', typ: 'at+jwt', kid: header.kid }, payload, secret),
      );
    }
    await expectRejected(http, assemble({ ...header, alg: 'none' }, payload));
  });
});
