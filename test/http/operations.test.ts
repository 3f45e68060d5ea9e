import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { SigninSchema, SignupSchema } from '../../src/auth/auth.schemas.js';
import { toOpenApi } from '../../src/common/openapi/zod-openapi.js';
import { expectError, Http } from '../support/http.js';
import { createTestApp, useTestApp } from '../support/test-app.js';

/** The routes of the contract this service covers so far: [method, OpenAPI path]. */
const CONTRACT_ROUTES: [string, string][] = [
  ['post', '/auth/signup'],
  ['post', '/auth/signin'],
  ['post', '/auth/refresh'],
  ['post', '/auth/signout'],
  ['post', '/auth/signout/all'],
  ['get', '/auth/sessions'],
  ['delete', '/auth/sessions/{id}'],
  ['post', '/auth/password'],
  ['post', '/auth/signin/mfa'],
  ['post', '/auth/mfa/totp'],
  ['post', '/auth/mfa/totp/confirm'],
  ['post', '/auth/mfa/recovery-codes'],
  ['delete', '/auth/mfa/totp'],
  ['delete', '/users/{id}/mfa'],
  ['post', '/auth/email/verify'],
  ['post', '/auth/email/verify/confirm'],
  ['post', '/auth/password/forgot'],
  ['post', '/auth/password/reset'],
  ['post', '/auth/email'],
  ['post', '/auth/email/confirm'],
  ['get', '/users/me'],
  ['get', '/.well-known/jwks.json'],
  ['get', '/health/live'],
  ['get', '/health/ready'],
];

/**
 * The contract's public routes ("Operations"); every other route needs an access token. `/oauth/*`
 * needs none either: it authenticates the service client instead.
 */
function isPublic(path: string): boolean {
  return (
    [
      '/auth/signup',
      '/auth/signin',
      '/auth/signin/mfa',
      '/auth/refresh',
      '/auth/password/forgot',
      '/auth/password/reset',
      '/auth/email/verify/confirm',
      '/auth/email/confirm',
      '/.well-known/jwks.json',
      '/.well-known/oauth-authorization-server',
      '/.well-known/openid-configuration',
      '/docs',
      '/metrics',
    ].includes(path) ||
    path.startsWith('/health/') ||
    path.startsWith('/docs/') ||
    path.startsWith('/oauth/') ||
    // The web console's files (Fastify prints /console/* as `/console*`).
    /^\/console(\/|\*|$)/.test(path)
  );
}

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

interface RegisteredRoute {
  method: string;
  /** Fastify's syntax: `/auth/sessions/:id`, `/docs/*`. */
  path: string;
}

/**
 * Every route Fastify has registered, read from its route tree as
 * `printRoutes({ commonPrefix: false })` draws it: one node per line, four
 * columns per level, each node's text appended to its parent's path.
 */
function registeredRoutes(app: NestFastifyApplication): RegisteredRoute[] {
  const tree = app.getHttpAdapter().getInstance().printRoutes({ commonPrefix: false });
  const routes: RegisteredRoute[] = [];
  const pathAtDepth: string[] = [];
  for (const line of tree.split('\n')) {
    const node = /^((?:[│ ] {3})*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/u.exec(line);
    if (!node) {
      expect(line.trim(), `unparsed route tree line: ${line}`).toBe('');
      continue;
    }
    const depth = [...node[1]!].length / 4;
    const path = (depth === 0 ? '' : pathAtDepth[depth - 1]!) + node[2]!;
    pathAtDepth[depth] = path;
    pathAtDepth.length = depth + 1;
    for (const method of node[3]?.split(', ') ?? []) routes.push({ method, path });
  }
  return routes;
}

/** A concrete URL for a route pattern: a random UUID for each parameter. */
const concreteUrl = (path: string) => path.replace(/:\w+/g, () => randomUUID()).replace(/\*$/, 'x');

/** Fastify's `/a/:id` as OpenAPI's `/a/{id}`. */
const openApiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}');

describe('operations', () => {
  const { t, http } = useTestApp();

  describe('health', () => {
    it('GET /health/live answers 200 without a token', async () => {
      const reply = await http.get('/health/live');
      expect(reply.status, reply.text).toBe(200);
      expect(reply.body).toEqual({ status: 'ok' });
    });

    it('public routes ignore an Authorization header, even a bad one', async () => {
      const reply = await http.get('/health/live', { token: 'garbage' });
      expect(reply.status, reply.text).toBe(200);
    });

    it('GET /health/ready answers 200 while the database is up', async () => {
      const reply = await http.get('/health/ready');
      expect(reply.status, reply.text).toBe(200);
      expect(reply.body).toMatchObject({ status: 'ok' });
    });

    it('GET /health/ready answers 503 once the database is closed; /health/live still 200', async () => {
      const down = await createTestApp();
      try {
        const downHttp = new Http(down.app);
        expect((await downHttp.get('/health/ready')).status).toBe(200);
        await down.connection.close();
        const ready = await downHttp.get('/health/ready');
        expectError(ready, 503, 'unavailable');
        expect(ready.text).not.toMatch(/pool|closed|\bat /);
        expect((await downHttp.get('/health/live')).status).toBe(200);
      } finally {
        await down.close();
      }
    });
  });

  describe('JWKS', () => {
    it('GET /.well-known/jwks.json is public and cacheable (Cache-Control max-age)', async () => {
      const reply = await http.get('/.well-known/jwks.json');
      expect(reply.status, reply.text).toBe(200);
      const cacheControl = String(reply.headers['cache-control']);
      expect(cacheControl).toMatch(/\bmax-age=\d+\b/);
      expect(Number(/max-age=(\d+)/.exec(cacheControl)![1])).toBeGreaterThan(0);
      expect(cacheControl).not.toMatch(/no-store|private/);
    });

    it('takes max-age from JWKS_MAX_AGE', async () => {
      const custom = await createTestApp({ JWKS_MAX_AGE: '10m' });
      try {
        const reply = await new Http(custom.app).get('/.well-known/jwks.json');
        expect(reply.headers['cache-control']).toMatch(/\bmax-age=600\b/);
      } finally {
        await custom.close();
      }
    });

    it.each([
      ['ES256', 'EC'],
      ['EdDSA', 'OKP'],
      ['RS256', 'RSA'],
    ])('with JWT_ALG=%s publishes %s public keys only, which verify the access tokens', async (alg, kty) => {
      const keyed = await createTestApp({ JWT_ALG: alg });
      try {
        const keyedHttp = new Http(keyed.app);
        const reply = await keyedHttp.get('/.well-known/jwks.json');
        expect(reply.status, reply.text).toBe(200);
        expect(reply.body.keys.length).toBeGreaterThan(0);
        for (const key of reply.body.keys) {
          expect(key).toMatchObject({ kid: expect.any(String), kty, alg, use: 'sig' });
          for (const member of PRIVATE_JWK_MEMBERS)
            expect(key, `private member ${member}`).not.toHaveProperty(member);
        }

        // Another service, holding nothing but this document, verifies a token.
        const user = await keyedHttp.signup();
        const header = decodeProtectedHeader(user.accessToken);
        expect(header.alg).toBe(alg);
        expect(reply.body.keys.map((key: { kid: string }) => key.kid)).toContain(header.kid);
        const { payload } = await jwtVerify(user.accessToken, createLocalJWKSet(reply.body), {
          issuer: keyed.config.jwt.issuer,
          audience: keyed.config.jwt.audience,
          algorithms: [alg],
        });
        expect(payload.sub).toBe(user.id);
      } finally {
        await keyed.close();
      }
    });
  });

  describe('API documentation', () => {
    let doc: any;
    beforeAll(async () => {
      const reply = await http.get('/docs/openapi.json');
      expect(reply.status, reply.text).toBe(200);
      doc = reply.body;
    });

    it('GET /docs serves the interactive documentation as HTML, without a token', async () => {
      const reply = await http.get('/docs');
      expect(reply.status).toBe(200);
      expect(reply.headers['content-type']).toMatch(/^text\/html/);
      expect(reply.text).toMatch(/<html/i);
      expect(reply.text).toMatch(/swagger/i);
    });

    it('GET /docs/openapi.json is an OpenAPI 3 document listing every route of the contract', () => {
      expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
      expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
      for (const [method, path] of CONTRACT_ROUTES) {
        expect(doc.paths?.[path]?.[method], `${method.toUpperCase()} ${path}`).toBeDefined();
      }
    });

    const bodySchema = (path: string) =>
      doc.paths[path].post.requestBody?.content?.['application/json']?.schema as Record<string, any>;

    it('documents the signup and signin bodies with the zod schemas that validate them', () => {
      for (const [path, schema] of [
        ['/auth/signup', SignupSchema],
        ['/auth/signin', SigninSchema],
      ] as const) {
        const documented = bodySchema(path);
        expect(documented, path).toBeDefined();
        expect(documented).toMatchObject({ type: 'object', additionalProperties: false });
        expect([...documented.required].sort()).toEqual(['email', 'password']);
        expect(documented).toEqual(toOpenApi(schema));
      }
    });

    it('what the document says of the signup body is what validation does', async () => {
      const documented = bodySchema('/auth/signup');
      const valid = { email: 'doc.check@example.com', password: 'correct horse battery staple' };
      for (const field of documented.required as string[]) {
        const body: Record<string, unknown> = { ...valid };
        delete body[field];
        const reply = await http.post('/auth/signup', { body });
        expectError(reply, 400, 'validation_failed');
        expect(reply.body.errors.map((error: { field: string }) => error.field)).toContain(field);
      }
      const extra = await http.post('/auth/signup', { body: { ...valid, role: 'admin' } });
      expectError(extra, 400, 'validation_failed');
      expect(extra.body.errors).toContainEqual({ field: 'role', message: expect.any(String) });
    });

    it('documents both shapes of the signin answer (tokens, or an MFA challenge) and the MFA routes', () => {
      const shapes = doc.paths['/auth/signin'].post.responses['200'].content['application/json'].schema;
      const variants = (shapes.anyOf ?? shapes.oneOf) as Record<string, any>[];
      expect(variants).toHaveLength(2);
      expect(variants.map((variant) => [...variant.required].sort())).toEqual([
        // refreshToken is in the body unless cookie mode moves it into the cookie.
        ['accessToken', 'email', 'expiresIn', 'id', 'roles', 'tokenType'],
        ['methods', 'mfaRequired', 'mfaToken'],
      ]);
      expect(Object.keys(variants[0]!.properties)).toContain('refreshToken');
      const second = doc.paths['/auth/signin/mfa'].post;
      expect(Object.keys(second.requestBody.content['application/json'].schema.properties).sort()).toEqual([
        'code',
        'mfaToken',
        'recoveryCode',
      ]);
      expect(second.responses['401'].content['application/json'].schema.properties.code.enum.sort()).toEqual([
        'invalid_mfa_code',
        'invalid_mfa_token',
      ]);
      expect(doc.paths['/auth/mfa/totp/confirm'].post.responses['200']).toBeDefined();
      expect(doc.paths['/auth/mfa/totp'].delete.requestBody).toBeDefined();
      expect(doc.paths['/users/{id}/mfa'].delete.responses['403']).toBeDefined();
    });

    it('documents the error responses, with their codes', () => {
      const codesOf = (method: string, path: string, status: number): string[] =>
        doc.paths[path][method].responses?.[String(status)]?.content?.['application/json']?.schema?.properties
          ?.code?.enum ?? [];
      expect(codesOf('post', '/auth/signin', 401)).toContain('invalid_credentials');
      expect(codesOf('post', '/auth/signin', 400)).toContain('validation_failed');
      expect(codesOf('post', '/auth/signin', 429)).toContain('too_many_requests');
      expect(codesOf('post', '/auth/signup', 409)).toContain('email_taken');
      expect(codesOf('post', '/auth/refresh', 401)).toEqual(
        expect.arrayContaining(['invalid_refresh_token', 'refresh_token_reused']),
      );
      expect(codesOf('get', '/users/me', 401)).toContain('missing_token');
      expect(codesOf('delete', '/auth/sessions/{id}', 404)).toContain('not_found');
      const errorSchema = doc.paths['/auth/signin'].post.responses['401'].content['application/json'].schema;
      expect(errorSchema.required).toEqual(
        expect.arrayContaining(['statusCode', 'error', 'code', 'message']),
      );
    });

    it('declares bearer auth on every protected route, and on no public one', () => {
      const schemes = doc.components?.securitySchemes ?? {};
      const bearerNames = Object.entries(schemes)
        .filter(([, scheme]: [string, any]) => scheme.type === 'http' && scheme.scheme === 'bearer')
        .map(([name]) => name);
      expect(bearerNames.length).toBeGreaterThan(0);
      for (const [path, operations] of Object.entries<Record<string, any>>(doc.paths)) {
        for (const [method, operation] of Object.entries<any>(operations)) {
          // Every alternative needs a bearer token; a public route has none, or `{}` (anonymous) among them.
          const requirements: object[] = operation.security ?? doc.security ?? [];
          const secured =
            requirements.length > 0 &&
            requirements.every((requirement) =>
              Object.keys(requirement).some((name) => bearerNames.includes(name)),
            );
          expect(secured, `${method.toUpperCase()} ${path}`).toBe(!isPublic(path));
        }
      }
    });

    it('documents exactly the API routes Fastify serves', () => {
      const served = new Set(
        registeredRoutes(t.app)
          .filter(
            (route) =>
              route.method !== 'HEAD' &&
              !route.path.startsWith('/docs') &&
              !route.path.startsWith('/console'),
          )
          .map((route) => `${route.method.toLowerCase()} ${openApiPath(route.path)}`),
      );
      const documented = new Set(
        Object.entries<Record<string, unknown>>(doc.paths).flatMap(([path, operations]) =>
          Object.keys(operations).map((method) => `${method} ${path}`),
        ),
      );
      expect([...documented].sort()).toEqual([...served].sort());
    });
  });

  describe('secure by default', () => {
    let routes: RegisteredRoute[];
    beforeAll(() => {
      routes = registeredRoutes(t.app);
    });

    it('reads the registered routes (the walk below covers them all)', () => {
      const names = routes.map((route) => `${route.method} ${route.path}`);
      for (const expected of [
        'GET /users/me',
        'HEAD /users/me',
        'GET /auth/sessions',
        'DELETE /auth/sessions/:id',
        'POST /auth/signout',
        'POST /auth/signout/all',
        'POST /auth/password',
        'POST /auth/signup',
        'GET /health/ready',
        'GET /docs',
        'GET /docs/openapi.json',
      ]) {
        expect(names).toContain(expected);
      }
    });

    it('every route outside the public list answers 401 missing_token without a token', async () => {
      const protectedRoutes = routes.filter((route) => !isPublic(route.path));
      expect(protectedRoutes.length).toBeGreaterThanOrEqual(7);
      for (const { method, path } of protectedRoutes) {
        const label = `${method} ${path}`;
        const reply = await http.request(method, concreteUrl(path), {
          payload: method === 'GET' || method === 'HEAD' ? undefined : '{}',
          headers: method === 'GET' || method === 'HEAD' ? {} : { 'content-type': 'application/json' },
        });
        expect(reply.status, label).toBe(401);
        if (method !== 'HEAD') {
          expect(reply.body, label).toMatchObject({ statusCode: 401, code: 'missing_token' });
        }

        const forged = await http.request(method, concreteUrl(path), { token: 'not-a-token' });
        expect(forged.status, `${label} with a bad token`).toBe(401);
        if (method !== 'HEAD') expect(forged.body.code, label).toBe('invalid_token');
      }
    });

    it('every public route answers without a token', async () => {
      for (const { method, path } of routes.filter((route) => isPublic(route.path))) {
        const reply = await http.request(method, concreteUrl(path), {
          payload: method === 'POST' ? '{}' : undefined,
          headers: method === 'POST' ? { 'content-type': 'application/json' } : {},
        });
        if (path.startsWith('/oauth/')) {
          // No access token asked for: the client's credentials are (RFC 6749's 401 invalid_client, Basic).
          if (reply.status === 401) {
            expect(String(reply.headers['www-authenticate']), `${method} ${path}`).toMatch(/^Basic /);
            if (method !== 'HEAD') expect(reply.body.error, `${method} ${path}`).toBe('invalid_client');
          }
        } else {
          expect(reply.status, `${method} ${path}`).not.toBe(401);
        }
        expect(reply.status, `${method} ${path}`).toBeLessThan(500);
      }
    });
  });
});
