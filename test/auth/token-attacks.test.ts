/**
 * Token attacks: the checklist of RFC 8725 (JWT BCP), ASVS 5.0 V9 (self-contained tokens) and
 * the token parts of V7/V8/V10, against the whole service (HTTP through Fastify's pipeline).
 * Every rejection asserts the contract's exact status and code (401 invalid_token,
 * token_expired, session_revoked, invalid_refresh_token); every forgery is checked next to a
 * genuine token that works, so a rejection is about the forgery and nothing else.
 *
 * Where each item is covered (ASVS 5.0 requirement in brackets). "here" is this file;
 * unit = test/keys/access-token.test.ts; the others are named by their path under test/.
 *
 * | attack                                                   | covered by                                                                                           |
 * |----------------------------------------------------------|------------------------------------------------------------------------------------------------------|
 * | alg none/None/NONE/nOnE, empty or original signature     | auth/access-tokens "rejects alg %s (with and without a signature)"; unit "rejects unsigned alg %s" [9.1.1, 9.1.2] |
 * | alg none/None/NONE with a garbage signature; alg missing | here "alg %s with a garbage signature"; here "a missing, empty or non-string alg" [9.1.2]              |
 * | HS256/384/512 MAC-ed with the public key (JWK, PEM, DER) | auth/access-tokens "rejects HS256 tokens whose HMAC key is the published public key"; unit        [9.1.2] |
 * | another asymmetric alg named for the same key            | auth/access-tokens "rejects a token whose header claims another asymmetric alg"                    [9.1.2] |
 * | tampered payload (roles admin, another sub/sid, exp)     | auth/access-tokens "rejects a payload with %s under the original signature"                         [9.1.1] |
 * | tampered header (typ, re-encoded, extra member)          | here "a tampered header under the original signature"; unit "rejects a tampered header"          [9.1.1] |
 * | payload re-encoded with the same claims                  | here "the same claims re-encoded under the original signature"                                   [9.1.1] |
 * | flipped/truncated signature, non-canonical base64url     | auth/access-tokens "rejects a flipped bit…", "rejects a non-canonical encoding…"                     [9.1.1] |
 * | token from a foreign key (under our kid)                 | auth/access-tokens "rejects a token signed by a foreign ES256 key under the real kid"              [9.1.3] |
 * | token of another Gatehouse deployment (same iss/aud)     | here "a token issued by another Gatehouse deployment"                                     [9.1.3, 9.2.3] |
 * | kid unknown, '../../etc/passwd', missing, non-string     | auth/access-tokens "rejects an unknown kid, a missing kid and a non-string kid"; unit              [9.1.3] |
 * | kid '/dev/null', SQL-like, path-like, URL-like — signed  | here "kid %s: refused even with a valid signature of the real key";                                    |
 * |   with the REAL key, and HS256 under that kid            |   here "kid '/dev/null' with HS256 and an empty key", "…SQL-injected kid…"                      [9.1.3] |
 * | jwk / jku / x5u / x5c headers                            | auth/access-tokens "ignores an embedded jwk (and jku / x5u / x5c) header carrying the attacker key";      |
 * |                                                          |   unit "jku / x5u / x5c headers"; here: a live jku/x5u server is never contacted, and a real-key       |
 * |                                                          |   token carrying them is accepted (ignored, not trusted)                                        [9.1.3] |
 * | expired (exp past), also when cached                     | auth/access-tokens "answers 401 token_expired for an exp in the past", "…with a faked clock"      [9.2.1] |
 * | not yet valid: nbf future, iat far future (> 60 s skew)  | auth/access-tokens "answers 401 invalid_token for nbf in the future / iat far in the future";             |
 * |                                                          |   unit "rejects a future nbf", "accepts iat up to 60 s in the future". The contract does not name      |
 * |                                                          |   nbf: the service refuses a future nbf (invalid_token), as RFC 7519 §4.1.5 says                [9.2.1] |
 * | wrong iss, wrong aud, aud list without ours — REAL key   | auth/access-tokens "answers 401 invalid_token for another issuer / audience"                 [9.2.3, 10.3.1] |
 * | wrong typ (JWT, none, rt+jwt), crit — REAL key           | auth/access-tokens "answers 401 invalid_token for typ JWT / no typ / typ refresh / a crit header"  [9.2.2] |
 * | sid of another user bound to this sub; unknown sid       | auth/access-tokens "answers 401 for a sid of another user bound to this sub"                [10.3.3, 8.2.2] |
 * | roles claim forged with the REAL key                     | auth/access-tokens "takes the roles from the user, not from the token"                        [8.3.1, 8.3.2] |
 * | refresh token as access token (every protected route)    | auth/access-tokens "rejects a refresh token used as an access token"; access/routes             [9.2.2] |
 * | access token as refresh token (header and body)          | auth/access-tokens "rejects an access token used as a refresh token"                       [9.2.2, 10.4.5] |
 * | JWE / nested JWT, token in query string or cookie        | here "a JWE-shaped (five-segment) token", "a token outside the Authorization header"       [9.1.1, 10.1.1] |
 * | tokens of a deleted user (401 on next request)           | users/admin "deleting a user: 204, its tokens dead at once"; here: also after the email            |
 * |                                                          |   is signed up again, and a REAL-key token for the old sub/sid                                  [7.4.2] |
 * | tokens of a disabled user (401 on next request)          | users/admin "disabling ends every session at once"; here: a session left unrevoked is              |
 * |                                                          |   still refused while its user is disabled                                               [7.4.2, 8.3.2] |
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq, sql } from 'drizzle-orm';
import { CompactSign, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { users } from '../../src/database/schema.js';
import { createAdminApp, signinRoot } from '../support/admin.js';
import { type AuthBody, expectError, Http, type Reply } from '../support/http.js';
import { createTestApp, type TestApp, useTestApp } from '../support/test-app.js';
import {
  assemble,
  b64url,
  decodeJwt,
  kidOf,
  NO_THROTTLE,
  signHs256,
  signWithServiceKey,
} from '../support/tokens.js';

/** GET /users/me with `Bearer <token>`. */
const me = (http: Http, token: string): Promise<Reply> => http.get('/users/me', { token });

async function expectInvalidToken(http: Http, token: string, code = 'invalid_token'): Promise<void> {
  const reply = await me(http, token);
  expectError(reply, 401, code);
  expect(reply.text).not.toContain(token);
}

const now = () => Math.floor(Date.now() / 1000);

/** Claims as the service issues them for `auth`'s session, freshly dated. */
const claimsOf = (auth: { accessToken: string }) => ({
  ...decodeJwt(auth.accessToken).payload,
  iat: now(),
  exp: now() + 600,
  jti: randomUUID(),
});

describe('token attacks', () => {
  const { t, http } = useTestApp(NO_THROTTLE);
  let victim: AuthBody;
  let realKid: string;

  beforeAll(async () => {
    victim = await http.signup();
    realKid = kidOf(victim.accessToken)!;
  });

  it('the genuine token and a token signed in-process with the real key both work (so every rejection below is about the attack)', async () => {
    expect((await me(http, victim.accessToken)).status).toBe(200);
    const reply = await me(http, signWithServiceKey(t, claimsOf(victim)));
    expect(reply.status, reply.text).toBe(200);
    expect(reply.body.id).toBe(victim.id);
  });

  describe('algorithm (RFC 8725 §2.1, §3.1)', () => {
    const garbage = [
      'AAAA',
      'garbage',
      randomBytes(64).toString('base64url'),
      randomBytes(256).toString('base64url'),
    ];

    it.each(['none', 'None', 'NONE'])('alg %s with a garbage signature', async (alg) => {
      const { header, payload } = decodeJwt(victim.accessToken);
      for (const signature of garbage) {
        await expectInvalidToken(http, assemble({ ...header, alg }, payload, signature));
        await expectInvalidToken(
          http,
          assemble({ ...header, alg }, { ...payload, roles: ['admin'] }, signature),
        );
      }
    });

    it('a missing, empty or non-string alg, with the original signature', async () => {
      const { header, payload, segments } = decodeJwt(victim.accessToken);
      const { alg: _alg, ...withoutAlg } = header;
      for (const forged of [
        withoutAlg,
        { ...header, alg: '' },
        { ...header, alg: null },
        { ...header, alg: ['ES256'] },
        { ...header, alg: { name: 'ES256' } },
      ]) {
        await expectInvalidToken(http, assemble(forged, payload, segments[2]));
      }
    });
  });

  describe('integrity (RFC 8725 §3.1, ASVS 9.1.1)', () => {
    it('a tampered header under the original signature: typ, re-encoded (key order, spaces), an extra member', async () => {
      const { header, segments } = decodeJwt(victim.accessToken);
      const [, p, s] = segments;
      const headers = [
        b64url({ ...header, typ: 'JWT' }),
        b64url({ kid: header.kid, typ: header.typ, alg: header.alg }), // same members, another order
        b64url(JSON.stringify(header, null, 1)), // same members, whitespace
        b64url({ ...header, x: 1 }),
        b64url({ ...header, kid: `${header.kid} ` }),
      ];
      for (const h of headers) {
        expect(h).not.toBe(segments[0]);
        await expectInvalidToken(http, `${h}.${p}.${s}`);
      }
    });

    it('the same claims re-encoded under the original signature (the signature covers bytes, not meaning)', async () => {
      const { payload, segments } = decodeJwt(victim.accessToken);
      const [h, p, s] = segments;
      const reordered = Object.fromEntries(Object.entries(payload).reverse());
      for (const encoded of [
        b64url(reordered),
        b64url(JSON.stringify(payload, null, 2)),
        b64url(` ${JSON.stringify(payload)}`),
      ]) {
        expect(encoded).not.toBe(p);
        await expectInvalidToken(http, `${h}.${encoded}.${s}`);
      }
      expect((await me(http, `${h}.${p}.${s}`)).status).toBe(200);
    });

    it('a JWE-shaped (five-segment) token and a nested JWT in the payload', async () => {
      const [h, p, s] = decodeJwt(victim.accessToken).segments;
      await expectInvalidToken(
        http,
        `${b64url({ alg: 'RSA-OAEP', enc: 'A256GCM', kid: realKid })}.${p}.${s}.${p}.${s}`,
      );
      await expectInvalidToken(http, `${h}.${p}.${s}.${h}.${p}`);
      // A payload that is itself a JWT (cty: JWT), signed with the real key: not a claims set.
      const nested = signWithServiceKey(t, claimsOf(victim));
      const header = b64url({ alg: 'ES256', typ: 'at+jwt', kid: realKid, cty: 'JWT' });
      await expectInvalidToken(http, `${header}.${b64url(nested)}.${s}`);
    });
  });

  describe('keys (RFC 8725 §3.10, ASVS 9.1.3)', () => {
    const oddKids = [
      '/dev/null',
      '../../etc/passwd',
      '..\\..\\windows\\win.ini',
      'file:///etc/passwd',
      'https://attacker.example/key.pem',
      "' OR '1'='1",
      "x'; drop table users;--",
      "x' UNION SELECT 'secret' --",
      '*',
      '%00',
      'a\u0000b',
      '__proto__',
      'constructor',
    ];

    it.each(oddKids)('kid %j: refused even with a valid signature of the real key', async (kid) => {
      // The only thing wrong with this token is its kid: the contract accepts only a known kid.
      const token = signWithServiceKey(t, claimsOf(victim), { kid });
      await expectInvalidToken(http, token);
    });

    it("kid '/dev/null' with HS256 and an empty key, and an SQL-injected kid with HS256 and the injected secret", async () => {
      const payload = claimsOf(victim);
      await expectInvalidToken(
        http,
        signHs256({ alg: 'HS256', typ: 'at+jwt', kid: '/dev/null' }, payload, ''),
      );
      await expectInvalidToken(
        http,
        signHs256({ alg: 'HS256', typ: 'at+jwt', kid: '/dev/null' }, payload, Buffer.alloc(0)),
      );
      await expectInvalidToken(
        http,
        signHs256({ alg: 'HS256', typ: 'at+jwt', kid: "x' UNION SELECT 'secret' --" }, payload, 'secret'),
      );
      await expectInvalidToken(http, signHs256({ alg: 'HS256', typ: 'at+jwt', kid: realKid }, payload, ''));
    });

    it('odd kids leave the database as it was: users table there, the victim still signs in', async () => {
      const [row] = await t.connection.db
        .select({ n: sql<number>`count(*)::int` })
        .from(users)
        .where(eq(users.id, victim.id));
      expect(row!.n).toBe(1);
      await http.signin(victim.email);
    });

    it('a token issued by another Gatehouse deployment (same default issuer and audience, its own key)', async () => {
      const other = await createTestApp(NO_THROTTLE);
      try {
        const foreign = await new Http(other.app).signup(victim.email);
        expect(decodeJwt(foreign.accessToken).payload).toMatchObject({
          iss: 'http://localhost:3000',
          aud: 'gatehouse',
        });
        expect(kidOf(foreign.accessToken)).not.toBe(realKid);
        await expectInvalidToken(http, foreign.accessToken);
        // Relabelled with our kid, and with our victim's sub and sid: the signature does not verify.
        const [, , s] = decodeJwt(foreign.accessToken).segments;
        const relabelled = assemble(
          { ...decodeJwt(foreign.accessToken).header, kid: realKid },
          {
            ...decodeJwt(foreign.accessToken).payload,
            sub: victim.id,
            sid: decodeJwt(victim.accessToken).payload.sid,
          },
          s,
        );
        await expectInvalidToken(http, relabelled);
        // Its refresh token means nothing here either.
        expectError(
          await http.post('/auth/refresh', { body: { refreshToken: foreign.refreshToken } }),
          401,
          'invalid_refresh_token',
        );
      } finally {
        await other.close();
      }
    });
  });

  describe('jwk / jku / x5u / x5c headers are ignored, never fetched (RFC 8725 §3.10, ASVS 9.1.3)', () => {
    let server: Server;
    let baseUrl: string;
    const requests: string[] = [];
    let attackerJwks: { keys: Record<string, unknown>[] };
    let attackerKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

    beforeAll(async () => {
      const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
      attackerKey = privateKey;
      attackerJwks = {
        keys: [{ ...(await exportJWK(publicKey)), kid: 'attacker', alg: 'ES256', use: 'sig' }],
      };
      server = createServer((request: IncomingMessage, response) => {
        requests.push(`${request.method} ${request.url}`);
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify(attackerJwks));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => server?.close(() => resolve()));
    });

    it('an attacker-signed token whose jku/x5u point at a live key server: refused, and the server is never contacted', async () => {
      const fetchSpy = vi.spyOn(globalThis, 'fetch');
      try {
        const payload = { ...claimsOf(victim), roles: ['admin'] };
        const headers = [
          { kid: 'attacker', jku: `${baseUrl}/jwks.json` },
          { kid: realKid, jku: `${baseUrl}/jwks.json` },
          { kid: 'attacker', x5u: `${baseUrl}/cert.pem` },
          { jku: `${baseUrl}/jwks.json` },
          { kid: 'attacker', jwk: attackerJwks.keys[0] },
        ];
        for (const extra of headers) {
          const token = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
            .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', ...extra })
            .sign(attackerKey);
          await expectInvalidToken(http, token);
        }
        // The service made no outbound request, to our server or anywhere.
        expect(fetchSpy).not.toHaveBeenCalled();
        expect(requests).toEqual([]);
      } finally {
        fetchSpy.mockRestore();
      }
    });

    it('a real-key token carrying jku / x5u / x5c / an attacker jwk is accepted: the headers are ignored, not trusted', async () => {
      const fetchSpy = vi.spyOn(globalThis, 'fetch');
      try {
        for (const extra of [
          { jku: `${baseUrl}/jwks.json` },
          { x5u: `${baseUrl}/cert.pem` },
          { x5c: ['MIIBfake'] },
          { jwk: attackerJwks.keys[0] },
        ]) {
          const reply = await me(http, signWithServiceKey(t, claimsOf(victim), extra));
          expect(reply.status, `${JSON.stringify(extra)}: ${reply.text}`).toBe(200);
          expect(reply.body.id).toBe(victim.id);
        }
        expect(fetchSpy).not.toHaveBeenCalled();
        expect(requests).toEqual([]);
      } finally {
        fetchSpy.mockRestore();
      }
    });
  });

  describe('where a token is taken from (RFC 6750 §2, ASVS 10.1.1)', () => {
    it('a token outside the Authorization header (query string, cookie, body) is not an access token: 401 missing_token', async () => {
      const token = victim.accessToken;
      expectError(await http.get(`/users/me?access_token=${token}`), 401, 'missing_token');
      expectError(
        await http.get('/users/me', { headers: { cookie: `access_token=${token}` } }),
        401,
        'missing_token',
      );
      expectError(
        await http.get('/users/me', { headers: { 'x-access-token': token } }),
        401,
        'missing_token',
      );
      expectError(await http.post('/auth/signout', { body: { accessToken: token } }), 401, 'missing_token');
      expect((await me(http, token)).status).toBe(200);
    });
  });
});

describe('tokens of deleted and disabled users (ASVS 7.4.2, 8.3.2)', () => {
  let t: TestApp;
  let http: Http;
  let admin: AuthBody;

  beforeAll(async () => {
    t = await createAdminApp();
    http = new Http(t.app);
    admin = await signinRoot(http);
  });
  afterAll(() => t?.close());

  it('a deleted user signs up again with the same email: the old tokens, and real-key tokens for the old sub/sid, stay dead', async () => {
    const user = await http.signup();
    expect((await me(http, user.accessToken)).status).toBe(200);
    expect((await http.delete(`/users/${user.id}`, { token: admin.accessToken })).status).toBe(204);
    const reborn = await http.signup(user.email);
    expect(reborn.id).not.toBe(user.id);

    expectError(await me(http, user.accessToken), 401, 'session_revoked');
    expectError(
      await http.post('/auth/refresh', { body: { refreshToken: user.refreshToken } }),
      401,
      'invalid_refresh_token',
    );
    // Minted with the service's own key for the old identity: the sub and sid are gone for good.
    expectError(await me(http, signWithServiceKey(t, claimsOf(user))), 401, 'session_revoked');
    // The new account's sid under the old sub (or the reverse) belongs to nobody.
    const mixed = { ...claimsOf(reborn), sub: user.id };
    expectError(await me(http, signWithServiceKey(t, mixed)), 401, 'session_revoked');
    // The new account is unaffected, and is not the old one.
    const mine = await me(http, reborn.accessToken);
    expect(mine.status, mine.text).toBe(200);
    expect(mine.body.id).toBe(reborn.id);
  });

  it('a live session of a disabled user is refused on its next request (the user state is checked, not only the session)', async () => {
    const user = await http.signup();
    // A session nobody has used yet (no cached state), then the user disabled behind the service's
    // back — its sessions left unrevoked, as if a revocation had been missed.
    const fresh = await http.signin(user.email);
    await t.connection.db.update(users).set({ disabledAt: new Date() }).where(eq(users.id, user.id));
    expectError(await me(http, fresh.accessToken), 401, 'session_revoked');
    expectError(await me(http, signWithServiceKey(t, claimsOf(fresh))), 401, 'session_revoked');
    expectError(
      await http.post('/auth/refresh', { body: { refreshToken: fresh.refreshToken } }),
      401,
      'invalid_refresh_token',
    );
  });
});
