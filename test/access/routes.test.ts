import { randomUUID } from 'node:crypto';
import { RequestMethod } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IS_PUBLIC, REQUIRED_PERMISSIONS, REQUIRED_ROLES } from '../../src/access/access.decorators.js';
import { users } from '../../src/database/schema.js';
import { createAdminApp, registeredRoutes, signinRoot } from '../support/admin.js';
import { type AuthBody, expectError, GOOD_PASSWORD, Http, uniqueEmail } from '../support/http.js';
import type { TestApp } from '../support/test-app.js';

/**
 * Point 2 of the authorization issue: every route the application registers
 * is walked, so that a new route can never be public or unguarded by
 * accident. The route table comes from Fastify itself (not from a list kept
 * here), the declared requirements from Nest's metadata, the documented ones
 * from the OpenAPI document; all three are held to the contract.
 */

type Route = { method: string; path: string };
const key = (route: Route) => `${route.method} ${route.path}`;

/** The contract's public routes ("Operations"), as method + path (Fastify's `:param` syntax). */
const CONTRACT_PUBLIC = [
  'POST /auth/signup',
  'POST /auth/signin',
  'POST /auth/signin/mfa',
  'POST /auth/refresh',
  'POST /auth/password/forgot',
  'POST /auth/password/reset',
  'POST /auth/email/verify/confirm',
  'POST /auth/email/confirm',
  'GET /.well-known/jwks.json',
  'GET /.well-known/oauth-authorization-server',
  'GET /.well-known/openid-configuration',
  'GET /health/live',
  'GET /health/ready',
  'GET /docs',
  'GET /docs/openapi.json',
  // Service clients authenticate themselves here instead of a user (ClientAuthGuard).
  'POST /oauth/token',
  'POST /oauth/introspect',
  'GET /oauth/revocations',
];

/**
 * Public per the contract: the list above (and the HEAD twin of each GET),
 * anything under /health/, `/metrics` (no METRICS_TOKEN here), and the files
 * of the interactive documentation page under /docs/ (the page is public, so
 * the scripts and documents it loads are too), and the web console's files under /console
 * (the contract's `/console/*`: the page authenticates to the API itself) — read-only methods only.
 */
function contractPublic({ method, path }: Route): boolean {
  const read = method === 'GET' || method === 'HEAD';
  if (CONTRACT_PUBLIC.includes(`${method === 'HEAD' ? 'GET' : method} ${path}`)) return true;
  if (!read) return false;
  return (
    path.startsWith('/health/') ||
    path === '/metrics' ||
    path.startsWith('/docs/') ||
    // printRoutes writes /console/* as `/console*`
    /^\/console(\/|\*|$)/.test(path)
  );
}

/** Every route with a permission, per the contract's "Users" and "GET /audit-events". */
const PERMISSION_ROUTES: Record<string, string> = {
  'GET /users': 'users:read',
  'GET /users/:id': 'users:read',
  'PATCH /users/:id': 'users:write',
  'DELETE /users/:id': 'users:write',
  'DELETE /users/:id/sessions': 'sessions:revoke',
  'DELETE /users/:id/mfa': 'users:write',
  'GET /audit-events': 'audit:read',
  'POST /keys/rotate': 'keys:write',
  'POST /keys/:kid/revoke': 'keys:write',
  'GET /clients': 'clients:read',
  'POST /clients': 'clients:write',
  'DELETE /clients/:id': 'clients:write',
};

const fill = (path: string, value: string) => path.replace(/:[A-Za-z]+/g, value);

/** The authorization metadata Nest holds for each controller handler, keyed "METHOD /path". */
function declaredRoutes(
  t: TestApp,
): Map<string, { isPublic: boolean; permissions: string[]; roles: string[] }> {
  const declared = new Map<string, { isPublic: boolean; permissions: string[]; roles: string[] }>();
  const join = (...parts: string[]) =>
    '/' +
    parts
      .flatMap((part) => part.split('/'))
      .filter(Boolean)
      .join('/');
  for (const module of t.app.get(ModulesContainer, { strict: false }).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as (new (...args: never[]) => object) | undefined;
      if (!controller) continue;
      const prefix = (Reflect.getMetadata('path', controller) as string | undefined) ?? '';
      for (const name of Object.getOwnPropertyNames(controller.prototype)) {
        const handler = (controller.prototype as Record<string, unknown>)[name];
        if (name === 'constructor' || typeof handler !== 'function') continue;
        const method = Reflect.getMetadata('method', handler) as RequestMethod | undefined;
        if (method === undefined) continue;
        const subPath = (Reflect.getMetadata('path', handler) as string | undefined) ?? '';
        const meta = <T>(metaKey: string): T | undefined =>
          (Reflect.getMetadata(metaKey, handler) as T | undefined) ??
          (Reflect.getMetadata(metaKey, controller) as T | undefined);
        declared.set(`${RequestMethod[method]} ${join(prefix, subPath)}`, {
          isPublic: meta<boolean>(IS_PUBLIC) === true,
          permissions: meta<string[]>(REQUIRED_PERMISSIONS) ?? [],
          roles: meta<string[]>(REQUIRED_ROLES) ?? [],
        });
      }
    }
  }
  return declared;
}

describe('route walk: authentication and authorization on every registered route', () => {
  let t: TestApp;
  let http: Http;
  let routes: Route[];
  let plain: AuthBody;
  let admin: AuthBody;

  beforeAll(async () => {
    t = await createAdminApp();
    http = new Http(t.app);
    routes = registeredRoutes(t.app);
    plain = await http.signup();
    admin = await signinRoot(http);
  });
  afterAll(() => t.close());

  it('finds the routes of every controller and of the documentation in the route table', () => {
    const keys = routes.map(key);
    for (const expected of [
      ...CONTRACT_PUBLIC,
      ...Object.keys(PERMISSION_ROUTES),
      'GET /users/me',
      'POST /auth/signout',
      'POST /auth/signout/all',
      'POST /auth/password',
      'POST /auth/email',
      'POST /auth/email/verify',
      'GET /auth/sessions',
      'DELETE /auth/sessions/:id',
      'POST /auth/mfa/totp',
      'POST /auth/mfa/totp/confirm',
      'POST /auth/mfa/recovery-codes',
      'DELETE /auth/mfa/totp',
    ]) {
      expect(keys).toContain(expected);
    }
    // Every Nest handler is in Fastify's table: the table is the complete list to walk.
    for (const declared of declaredRoutes(t).keys()) expect(keys).toContain(declared);
  });

  it('answers 401 missing_token on every route not public in the contract, and the public routes are exactly the contract’s', async () => {
    const publicFound: string[] = [];
    for (const route of routes) {
      for (const param of [randomUUID(), 'not-a-uuid']) {
        const reply = await http.request(route.method, fill(route.path, param));
        if (route.path.startsWith('/oauth/')) {
          // No user token asked for: the client's credentials instead (RFC 6749's shape).
          expect(reply.status, `${key(route)} asks for the client`).toBe(401);
          if (route.method !== 'HEAD') {
            expect(reply.body, `${key(route)} asks for the client`).toMatchObject({
              error: 'invalid_client',
            });
          }
          if (param !== 'not-a-uuid') publicFound.push(key(route));
        } else if (contractPublic(route)) {
          expect(reply.status, `${key(route)} is public`).not.toBe(401);
          if (param !== 'not-a-uuid') publicFound.push(key(route));
        } else if (route.method === 'HEAD') {
          expect(reply.status, `${key(route)} without a token`).toBe(401);
        } else {
          expectError(reply, 401, 'missing_token');
        }
      }
    }
    // Nothing public beyond the contract: the ones found public are the contract's, and
    // each route the contract names as public is registered and answers without a token.
    for (const found of publicFound) expect(contractPublic(parseKey(found)), found).toBe(true);
    for (const expected of CONTRACT_PUBLIC) expect(publicFound).toContain(expected);
    // Non-GET public routes are only the auth entry points, the mailed links' targets and OAuth's.
    expect(publicFound.filter((k) => !k.startsWith('GET ') && !k.startsWith('HEAD ')).sort()).toEqual(
      [
        'POST /auth/refresh',
        'POST /auth/signin',
        'POST /auth/signin/mfa',
        'POST /auth/signup',
        'POST /auth/password/forgot',
        'POST /auth/password/reset',
        'POST /auth/email/verify/confirm',
        'POST /auth/email/confirm',
        'POST /oauth/token',
        'POST /oauth/introspect',
      ].sort(),
    );
  });

  it('answers 401 invalid_token to a malformed token and to a refresh token on every protected route', async () => {
    for (const route of routes.filter((r) => !contractPublic(r) && r.method !== 'HEAD')) {
      const url = fill(route.path, randomUUID());
      expectError(await http.request(route.method, url, { token: 'not.a.jwt' }), 401, 'invalid_token');
      expectError(await http.request(route.method, url, { token: plain.refreshToken }), 401, 'invalid_token');
      expectError(
        await http.request(route.method, url, { headers: { authorization: `Basic ${plain.accessToken}` } }),
        401,
        'invalid_token',
      );
    }
  });

  it('declares @Public() exactly on the contract’s public controller routes, and permissions as the contract says', () => {
    const declared = declaredRoutes(t);
    expect(declared.size).toBeGreaterThanOrEqual(Object.keys(PERMISSION_ROUTES).length + 8);
    const withPermission: Record<string, string> = {};
    for (const [route, meta] of declared) {
      expect(meta.isPublic, `${route} @Public()`).toBe(contractPublic(parseKey(route)));
      if (meta.isPublic) {
        expect(meta.permissions.length + meta.roles.length, `${route}: public with requirements`).toBe(0);
      }
      expect(meta.roles, `${route} @Roles()`).toEqual([]);
      if (meta.permissions.length > 0) withPermission[route] = meta.permissions.join(',');
    }
    expect(withPermission).toEqual(PERMISSION_ROUTES);
  });

  it('documents 403 forbidden in OpenAPI on exactly the routes with a permission', async () => {
    const reply = await http.get('/docs/openapi.json');
    expect(reply.status).toBe(200);
    const documented: string[] = [];
    const operations: string[] = [];
    for (const [path, item] of Object.entries<Record<string, any>>(reply.body.paths)) {
      for (const [method, operation] of Object.entries<any>(item)) {
        const route = `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`;
        operations.push(route);
        const codes: string[] = operation.responses?.['403']?.content?.['application/json']?.schema
          ?.properties?.code?.enum ?? [operation.responses?.['403']?.description ?? ''];
        if (codes.some((code) => code.includes('forbidden'))) documented.push(route);
        // A protected route says so in the document; a public one asks for no token (`security: []`, or
        // `{}` — anonymous — among the alternatives where another credential may come).
        const open =
          operation.security.length === 0 || operation.security.some((r: object) => !Object.keys(r).length);
        expect(open, `${route} security`).toBe(contractPublic(parseKey(route)));
      }
    }
    expect(documented.sort()).toEqual(Object.keys(PERMISSION_ROUTES).sort());
    // The document covers every controller route of the table (the docs' and the console's files aside).
    const tableRoutes = routes
      .filter((r) => r.method !== 'HEAD' && !r.path.startsWith('/docs') && !r.path.startsWith('/console'))
      .map(key);
    expect(operations.sort()).toEqual(tableRoutes.sort());
  });

  it('answers 403 forbidden to a plain user on every route with a permission, before validating anything', async () => {
    const permissionRoutes = routes.filter(
      (r) => PERMISSION_ROUTES[key({ ...r, method: r.method === 'HEAD' ? 'GET' : r.method })],
    );
    expect(permissionRoutes.length).toBeGreaterThanOrEqual(Object.keys(PERMISSION_ROUTES).length);
    for (const route of permissionRoutes) {
      // The plain user's own id (self-service), the admin's id, a random one and a malformed one.
      for (const id of [plain.id, admin.id, randomUUID(), 'not-a-uuid']) {
        for (const body of [undefined, { roles: ['admin', 'user'] }, { disabled: true }, { bogus: 1 }]) {
          const reply = await http.request(route.method, fill(route.path, id), {
            token: plain.accessToken,
            body,
          });
          if (route.method === 'HEAD') expect(reply.status, key(route)).toBe(403);
          else expectError(reply, 403, 'forbidden');
        }
      }
    }
    // Nothing changed: the plain user is still only a user, the admin still an active admin.
    const rows = await t.connection.db
      .select()
      .from(users)
      .where(sql`${users.id} in (${plain.id}, ${admin.id})`);
    expect(Object.fromEntries(rows.map((row) => [row.id, [row.roles, row.disabledAt]]))).toEqual({
      [plain.id]: [['user'], null],
      [admin.id]: [['admin', 'user'], null],
    });
    expect((await http.get('/users/me', { token: plain.accessToken })).status).toBe(200);
    expect((await http.get('/users/me', { token: admin.accessToken })).status).toBe(200);
  });

  it('lets an admin through the same routes (the requirement can be met)', async () => {
    const token = admin.accessToken;
    expect((await http.get('/users', { token })).status).toBe(200);
    expect((await http.get('/audit-events', { token })).status).toBe(200);
    const unknown = randomUUID();
    expectError(await http.get(`/users/${unknown}`, { token }), 404, 'not_found');
    expectError(
      await http.patch(`/users/${unknown}`, { token, body: { disabled: false } }),
      404,
      'not_found',
    );
    expectError(await http.delete(`/users/${unknown}`, { token }), 404, 'not_found');
    expectError(await http.delete(`/users/${unknown}/sessions`, { token }), 404, 'not_found');
  });
});

describe('signup never grants a role', () => {
  let t: TestApp;
  let http: Http;
  beforeAll(async () => {
    t = await createAdminApp();
    http = new Http(t.app);
  });
  afterAll(() => t.close());

  const countByEmail = async (email: string) =>
    (
      await t.connection.db
        .select()
        .from(users)
        .where(sql`lower(${users.email}) = lower(${email})`)
    ).length;

  it.each([
    ['roles', { roles: ['admin'] }],
    ['roles', { roles: ['user'] }],
    ['role', { role: 'admin' }],
    ['isAdmin', { isAdmin: true }],
    ['disabled', { disabled: false }],
  ])('rejects a signup with `%s` (400) and creates no account', async (field, extra) => {
    const email = uniqueEmail('escalate');
    const reply = await http.post('/auth/signup', { body: { email, password: GOOD_PASSWORD, ...extra } });
    expectError(reply, 400, 'validation_failed');
    expect(JSON.stringify(reply.body.errors ?? reply.body.message)).toContain(field);
    expect(await countByEmail(email)).toBe(0);
  });

  it('rejects a prototype-pollution body and creates no account', async () => {
    const email = uniqueEmail('proto');
    const reply = await http.post('/auth/signup', {
      payload: `{"email":"${email}","password":"${GOOD_PASSWORD}","__proto__":{"roles":["admin"]}}`,
      headers: { 'content-type': 'application/json' },
    });
    expectError(reply, 400, 'validation_failed');
    expect(await countByEmail(email)).toBe(0);
  });

  it('gives a signed-up account the user role only, and no admin permission', async () => {
    const user = await http.signup();
    expect(user.roles).toEqual(['user']);
    const [row] = await t.connection.db
      .select()
      .from(users)
      .where(sql`${users.id} = ${user.id}`);
    expect(row!.roles).toEqual(['user']);
    expectError(await http.get('/users', { token: user.accessToken }), 403, 'forbidden');
  });
});

function parseKey(routeKey: string): Route {
  const [method, path] = routeKey.split(' ') as [string, string];
  return { method, path };
}
