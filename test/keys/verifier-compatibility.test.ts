import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import fastifyJwt from '@fastify/jwt';
import { sql } from 'drizzle-orm';
import express from 'express';
import { auth } from 'express-oauth2-jwt-bearer';
import { createVerifier, type DecodedJwt } from 'fast-jwt';
import Fastify from 'fastify';
import buildGetJwks from 'get-jwks';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import jsonwebtoken from 'jsonwebtoken';
import jwksRsa from 'jwks-rsa';
import { ExtractJwt, Strategy as JwtStrategy } from 'passport-jwt';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { JwtAlg } from '../../src/config/jwt-alg.js';
import { signingKeys } from '../../src/database/schema.js';
import { SigningKeysService } from '../../src/keys/signing-keys.service.js';
import { ROOT_EMAIL, ROOT_PASSWORD, signinRoot } from '../support/admin.js';
import { Http } from '../support/http.js';
import { freePort } from '../support/process.js';
import { createTestApp, type TestApp } from '../support/test-app.js';
import { decodeJwt, NO_THROTTLE, signWithServiceKey } from '../support/tokens.js';

/**
 * Gatehouse's access tokens, from a service listening on a real socket,
 * verified by the resource-server libraries integrators use, each given
 * nothing but the issuer URL (and the audience to expect): the JWKS comes
 * from the issuer, by its well-known path or by discovery. What works with
 * which JWT_ALG is asserted as a fact (README's table): should a library
 * start or stop supporting an algorithm, this fails and the table is redone.
 */

const LIBRARIES = [
  'jose',
  'jsonwebtoken + jwks-rsa',
  'passport-jwt + jwks-rsa',
  'fast-jwt + get-jwks',
  '@fastify/jwt + get-jwks',
  'express-oauth2-jwt-bearer',
] as const;
type Library = (typeof LIBRARIES)[number];

/** The README's table. EdDSA: OKP keys are unknown to jwks-rsa/jsonwebtoken and get-jwks. */
const WORKS: Record<JwtAlg, Record<Library, boolean>> = {
  ES256: Object.fromEntries(LIBRARIES.map((library) => [library, true])) as Record<Library, boolean>,
  RS256: Object.fromEntries(LIBRARIES.map((library) => [library, true])) as Record<Library, boolean>,
  EdDSA: {
    jose: true,
    'jsonwebtoken + jwks-rsa': false,
    'passport-jwt + jwks-rsa': false,
    'fast-jwt + get-jwks': false,
    '@fastify/jwt + get-jwks': false,
    'express-oauth2-jwt-bearer': true, // it verifies with jose
  },
};

const AUDIENCE = 'gatehouse';

type Verify = (token: string) => Promise<string>; // the token's sub

interface Verifiers {
  verify: Record<Library, Verify>;
  close: () => Promise<void>;
}

/**
 * One verifier per library, configured as its documentation shows (and as
 * docs/integrating.md's snippets), from the issuer URL alone: no other option.
 * `timeTravel` is for the rotation test only: in production a rotated key is
 * published JWKS_MAX_AGE before it signs, long after the 30 s "cooldown" in
 * which jose refuses to refetch the JWKS for an unknown kid; time moves only
 * for the service there, so its jose-based verifiers get no cooldown.
 */
async function verifiersFor(issuer: string, alg: JwtAlg, timeTravel = false): Promise<Verifiers> {
  const cooldown = timeTravel ? { cooldownDuration: 0 } : {};
  const jwksUri = `${issuer}/.well-known/jwks.json`;
  const closers: (() => Promise<void>)[] = [];

  const joseJwks = createRemoteJWKSet(new URL(jwksUri), cooldown);
  const jose: Verify = async (token) =>
    (await jwtVerify(token, joseJwks, { issuer, audience: AUDIENCE, typ: 'at+jwt' })).payload.sub!;

  const rsaClient = jwksRsa({ jwksUri });
  const jsonwebtokenVerify: Verify = async (token) => {
    const key = await rsaClient.getSigningKey(decodeProtectedHeader(token).kid);
    const payload = jsonwebtoken.verify(token, key.getPublicKey(), {
      algorithms: [alg as jsonwebtoken.Algorithm],
      issuer,
      audience: AUDIENCE,
    }) as jsonwebtoken.JwtPayload;
    return payload.sub!;
  };

  const strategy = new JwtStrategy(
    {
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      secretOrKeyProvider: jwksRsa.passportJwtSecret({ jwksUri, cache: true, rateLimit: true }),
      issuer,
      audience: AUDIENCE,
      algorithms: [alg as jsonwebtoken.Algorithm],
    },
    (payload: { sub: string }, done: (error: unknown, user?: unknown) => void) => done(null, payload.sub),
  );
  // What passport does with a strategy: success, fail or error, once per request.
  const passport: Verify = (token) =>
    new Promise((resolve, reject) => {
      const run = Object.create(strategy) as JwtStrategy & {
        success: (user: string) => void;
        fail: (info: unknown) => void;
        error: (error: unknown) => void;
      };
      run.success = resolve;
      run.fail = (info) => reject(info instanceof Error ? info : new Error(String(info)));
      run.error = reject;
      run.authenticate({ headers: { authorization: `Bearer ${token}` } } as never, {});
    });

  // get-jwks finds the JWKS from the token's `iss` (OpenID discovery), for the issuer allowed only.
  const getJwks = buildGetJwks({ providerDiscovery: true, issuersWhitelist: [`${issuer}/`] });
  const fastJwtVerifier = createVerifier({
    key: async ({ header, payload }: DecodedJwt) =>
      getJwks.getPublicKey({
        kid: header.kid as string,
        alg: header.alg as string,
        domain: payload.iss as string,
      }),
    allowedIss: issuer,
    allowedAud: AUDIENCE,
    algorithms: [alg as never],
  });
  const fastJwt: Verify = async (token) => ((await fastJwtVerifier(token)) as { sub: string }).sub;

  const fastify = Fastify();
  await fastify.register(fastifyJwt, {
    decode: { complete: true },
    secret: (_request: unknown, token: { header: { kid: string; alg: string }; payload: { iss: string } }) =>
      getJwks.getPublicKey({ kid: token.header.kid, alg: token.header.alg, domain: token.payload.iss }),
    verify: { allowedIss: issuer, allowedAud: AUDIENCE, algorithms: [alg as never] },
  } as never);
  fastify.get('/', async (request) => {
    await request.jwtVerify();
    return { sub: (request.user as { sub: string }).sub };
  });
  await fastify.ready();
  closers.push(() => fastify.close());
  const fastifyVerify: Verify = async (token) => {
    const response = await fastify.inject({ url: '/', headers: { authorization: `Bearer ${token}` } });
    if (response.statusCode !== 200) throw new Error(`@fastify/jwt: ${response.statusCode} ${response.body}`);
    return response.json<{ sub: string }>().sub;
  };

  const app = express();
  app.get('/', auth({ issuerBaseURL: issuer, audience: AUDIENCE, ...cooldown }), (request, response) => {
    response.json({ sub: request.auth!.payload.sub });
  });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  const expressUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const expressVerify: Verify = async (token) => {
    const response = await fetch(expressUrl, { headers: { authorization: `Bearer ${token}` } });
    if (response.status !== 200)
      throw new Error(`express-oauth2-jwt-bearer: ${response.status} ${await response.text()}`);
    return ((await response.json()) as { sub: string }).sub;
  };

  return {
    verify: {
      jose,
      'jsonwebtoken + jwks-rsa': jsonwebtokenVerify,
      'passport-jwt + jwks-rsa': passport,
      'fast-jwt + get-jwks': fastJwt,
      '@fastify/jwt + get-jwks': fastifyVerify,
      'express-oauth2-jwt-bearer': expressVerify,
    },
    close: async () => {
      for (const close of closers) await close();
    },
  };
}

/** What each library said of a token: the sub it verified, or its error. */
async function outcomes(verifiers: Verifiers, token: string): Promise<Record<Library, string>> {
  const entries = await Promise.all(
    LIBRARIES.map(async (library) => {
      try {
        return [library, `ok ${await verifiers.verify[library](token)}`] as const;
      } catch (error) {
        return [library, `refused: ${error instanceof Error ? error.message : String(error)}`] as const;
      }
    }),
  );
  return Object.fromEntries(entries) as Record<Library, string>;
}

describe.each(['ES256', 'RS256', 'EdDSA'] as const)('verifier libraries with JWT_ALG=%s', (alg) => {
  let t: TestApp;
  let http: Http;
  let issuer: string;
  let verifiers: Verifiers;

  beforeAll(async () => {
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    t = await createTestApp({
      ...NO_THROTTLE,
      JWT_ALG: alg,
      PUBLIC_URL: issuer,
      ADMIN_EMAIL: ROOT_EMAIL,
      ADMIN_PASSWORD: ROOT_PASSWORD,
    });
    await t.app.listen(port, '127.0.0.1');
    http = new Http(t.app);
    verifiers = await verifiersFor(issuer, alg);
  });
  afterAll(async () => {
    await verifiers?.close();
    await t?.close();
  });

  const expected = (sub: string) =>
    Object.fromEntries(
      LIBRARIES.map((library) => [
        library,
        WORKS[alg][library] ? `ok ${sub}` : expect.stringMatching(/^refused: /),
      ]),
    );

  it('verifies a token with exactly the libraries of the table, from the issuer URL alone', async () => {
    const user = await http.signup();
    expect(decodeProtectedHeader(user.accessToken).alg).toBe(alg);
    expect(await outcomes(verifiers, user.accessToken)).toEqual(expected(user.id));
  });

  it('refuses, in every library, a token for another audience and one of another deployment', async () => {
    const user = await http.signup();
    const claims = decodeJwt(user.accessToken).payload;
    // The service's own key, the audience of another service.
    const elsewhere = signWithServiceKey(t, { ...claims, aud: 'another-service' });
    const other = await createTestApp({ JWT_ALG: alg, PUBLIC_URL: issuer });
    try {
      // Another deployment claiming this issuer, with its own key.
      const foreign = await new Http(other.app).signup(user.email);
      for (const token of [elsewhere, foreign.accessToken]) {
        for (const [library, outcome] of Object.entries(await outcomes(verifiers, token))) {
          expect(outcome, library).toMatch(/^refused: /);
        }
      }
    } finally {
      await other.close();
    }
  });

  it('keeps verifying through a rotation: the old key’s tokens, and the new key’s once it signs', async () => {
    const keys = t.app.get(SigningKeysService);
    const before = await http.signup();
    // Verifiers that have fetched (and cached) the JWKS before the rotation.
    const travelling = await verifiersFor(issuer, alg, true);
    onTestFinished(() => travelling.close());
    expect(await outcomes(travelling, before.accessToken)).toEqual(expected(before.id));
    const rotated = await http.post('/keys/rotate', { token: (await signinRoot(http)).accessToken });
    expect(rotated.status, rotated.text).toBe(201);
    const { kid, activatesAt } = rotated.body as { kid: string; activatesAt: string };
    // The new key's activation arrives (the JWKS max-age and a reload interval pass, for the service);
    // the old key stays published while its tokens live.
    const seconds = Math.ceil((Date.parse(activatesAt) - Date.now()) / 1000) + 1;
    await t.connection.db
      .update(signingKeys)
      .set({ activatesAt: sql`${signingKeys.activatesAt} - make_interval(secs => ${seconds})` });
    await keys.reload();
    const after = await http.signin(before.email);
    expect(decodeProtectedHeader(after.accessToken).kid).toBe(kid);
    expect(decodeProtectedHeader(before.accessToken).kid).not.toBe(kid);
    expect(await outcomes(travelling, after.accessToken)).toEqual(expected(before.id));
    expect(await outcomes(travelling, before.accessToken)).toEqual(expected(before.id));
  });
});
