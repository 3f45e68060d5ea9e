import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CurrentUser,
  GatehouseClient,
  type GatehouseEvent,
  GatehouseModule,
  type GatehouseModuleOptions,
  type GatehousePrincipal,
  Public,
  RequirePermissions,
  RequireScopes,
  Roles,
} from '../src/index.js';
import { GatehousePeer, until } from './peer.js';

@Controller()
class TestController {
  @Public()
  @Get('public')
  open() {
    return { ok: true };
  }

  @Get('me')
  me(@CurrentUser() principal: GatehousePrincipal) {
    return principal;
  }

  @Roles('admin')
  @Get('admin')
  admin() {
    return { ok: true };
  }

  @RequirePermissions('users:read', 'audit:read')
  @Get('audit')
  audit() {
    return { ok: true };
  }

  @RequireScopes('inventory:read')
  @Get('inventory')
  inventory(@CurrentUser() principal: GatehousePrincipal) {
    return { client: principal.clientId };
  }
}

interface Kit {
  app: NestFastifyApplication;
  client: GatehouseClient;
  events: GatehouseEvent[];
  get: (
    path: string,
    token?: string,
  ) => Promise<{ status: number; body: any; headers: Record<string, unknown> }>;
}

const kits: Kit[] = [];

async function startKit(peer: GatehousePeer, options: Partial<GatehouseModuleOptions> = {}): Promise<Kit> {
  const events: GatehouseEvent[] = [];
  @Module({
    imports: [
      GatehouseModule.forRoot({
        issuer: peer.issuer,
        clientId: peer.clientId,
        clientSecret: peer.clientSecret,
        reconnectDelay: { initial: 50, max: 500 },
        onEvent: (event) => events.push(event),
        ...options,
      }),
    ],
    controllers: [TestController],
  })
  class TestModule {}
  const app = await NestFactory.create<NestFastifyApplication>(TestModule, new FastifyAdapter(), {
    logger: false,
  });
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  const kit: Kit = {
    app,
    client: app.get(GatehouseClient),
    events,
    get: async (path, token) => {
      const response = await app.inject({
        method: 'GET',
        url: path,
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
      return { status: response.statusCode, body: response.json(), headers: response.headers };
    },
  };
  kits.push(kit);
  return kit;
}

afterEach(async () => {
  await Promise.all(kits.splice(0).map((kit) => kit.app.close()));
});

describe('GatehouseGuard against a feed and a JWKS', () => {
  let peer: GatehousePeer;
  let key: Awaited<ReturnType<GatehousePeer['addKey']>>;

  beforeAll(async () => {
    peer = await GatehousePeer.start({ keepAliveMs: 200 });
    key = await peer.addKey('k1');
  });
  afterAll(() => peer.down());

  it('answers public routes at once, and protected ones 503 until the feed has caught up, then 200', async () => {
    peer.feedStatus = 503;
    const kit = await startKit(peer);
    const token = await peer.userToken(key);
    expect((await kit.get('/public')).status).toBe(200);
    const early = await kit.get('/me', token);
    expect(early.status).toBe(503);
    expect(early.body).toMatchObject({ statusCode: 503, error: 'Service Unavailable', code: 'unavailable' });
    expect(early.headers['retry-after']).toBe('1');
    peer.feedStatus = undefined;
    await kit.client.ready();
    const me = await kit.get('/me', token);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      userId: 'user-1',
      sessionId: 'session-1',
      roles: ['user'],
      amr: ['pwd'],
    });
  });

  it("refuses what the service refuses, in the service's error shape", async () => {
    const kit = await startKit(peer);
    await kit.client.ready();
    const missing = await kit.get('/me');
    expect(missing.body).toEqual({
      statusCode: 401,
      error: 'Unauthorized',
      code: 'missing_token',
      message: expect.any(String),
    });
    expect((await kit.get('/me', 'garbage')).body.code).toBe('invalid_token');
    const expired = await peer.userToken(key, { iat: 1, exp: 1000 });
    expect((await kit.get('/me', expired)).body.code).toBe('token_expired');
  });

  it('@Roles, @RequirePermissions (through the role map) and @RequireScopes', async () => {
    const kit = await startKit(peer, {
      rolePermissions: { admin: ['users:read', 'audit:read'], auditor: ['audit:read'] },
    });
    await kit.client.ready();
    const user = await peer.userToken(key, { roles: ['user'] });
    const admin = await peer.userToken(key, { roles: ['admin'] });
    const auditor = await peer.userToken(key, { roles: ['auditor'] });
    const service = await peer.userToken(key, {
      sid: undefined,
      roles: undefined,
      client_id: 'c1',
      scope: 'inventory:read',
    });
    expect((await kit.get('/admin', user)).body.code).toBe('forbidden');
    expect((await kit.get('/admin', admin)).status).toBe(200);
    expect((await kit.get('/audit', admin)).status).toBe(200);
    expect((await kit.get('/audit', auditor)).status).toBe(403);
    expect((await kit.get('/inventory', user)).status).toBe(403);
    expect((await kit.get('/inventory', service)).body).toEqual({ client: 'c1' });
    expect((await kit.get('/admin', service)).status).toBe(403);
  });

  it('refuses a revoked session at once, every later request, cached verification or not', async () => {
    const kit = await startKit(peer);
    await kit.client.ready();
    const token = await peer.userToken(key, { sid: 'live-revoked' });
    expect((await kit.get('/me', token)).status).toBe(200); // verified and cached
    const revokedAt = performance.now();
    peer.publish({ sid: 'live-revoked', sub: 'user-1', reason: 'signout' });
    const delay = await until(async () => (await kit.get('/me', token)).status === 401, 10_000);
    expect((await kit.get('/me', token)).body.code).toBe('session_revoked');
    expect(performance.now() - revokedAt).toBeGreaterThanOrEqual(delay);
    // A role change: the old token is refused, a token with the roles now is accepted.
    const promotedOld = await peer.userToken(key, { sid: 'promoted', roles: ['user'] });
    const promotedNew = await peer.userToken(key, { sid: 'promoted', roles: ['user', 'admin'] });
    peer.publish({ sid: 'promoted', sub: 'user-1', reason: 'roles_changed', roles: ['admin', 'user'] });
    await until(async () => (await kit.get('/me', promotedOld)).status === 401, 10_000);
    expect((await kit.get('/me', promotedOld)).body.code).toBe('token_expired');
    expect((await kit.get('/admin', promotedNew)).status).toBe(200);
    // A deleted client.
    const service = await peer.userToken(key, {
      sid: undefined,
      roles: undefined,
      client_id: 'gone',
      scope: 'x',
    });
    peer.publish({ sid: null, sub: 'gone', reason: 'client_deleted' });
    await until(async () => (await kit.get('/me', service)).status === 401, 10_000);
  });

  it('catches up on start: a session revoked before the kit started is refused', async () => {
    peer.publish({ sid: 'before-start', sub: 'user-1', reason: 'user_deleted' });
    const kit = await startKit(peer);
    await kit.client.ready();
    expect((await kit.get('/me', await peer.userToken(key, { sid: 'before-start' }))).body.code).toBe(
      'session_revoked',
    );
  });
});

describe('losing the feed', () => {
  let peer: GatehousePeer;
  let key: Awaited<ReturnType<GatehousePeer['addKey']>>;

  beforeAll(async () => {
    peer = await GatehousePeer.start({ keepAliveMs: 200 });
    key = await peer.addKey('k1');
  });
  afterAll(() => peer.down());

  it('fails closed no sooner than failClosedAfter, recovers by itself, and honours what was revoked meanwhile', async () => {
    const failClosedAfter = 2_000;
    const kit = await startKit(peer, { failClosedAfter });
    await kit.client.ready();
    const token = await peer.userToken(key, { sid: 'revoked-while-down' });
    const other = await peer.userToken(key, { sid: 'still-live' });
    expect((await kit.get('/me', token)).status).toBe(200);
    expect(peer.sinces).toContain(new Date(0).toISOString()); // the first stream asks for everything in force

    const cutAt = performance.now();
    await peer.down();
    const refusedAfter = await until(async () => (await kit.get('/me', other)).status === 503, 60_000);
    expect(refusedAfter).toBeGreaterThanOrEqual(failClosedAfter);
    await until(() => kit.events.some((e) => e.type === 'fail-closed'));
    expect((await kit.get('/public')).status).toBe(200);

    // Revoked while the kit cannot hear it; then Gatehouse comes back.
    peer.publish({ sid: 'revoked-while-down', sub: 'user-1', reason: 'revoked_by_admin' });
    const resumedFrom = peer.sinces.length;
    await peer.up();
    await until(async () => (await kit.get('/me', other)).status === 200, 60_000);
    expect((await kit.get('/me', token)).body.code).toBe('session_revoked');
    // It resumed from the last server time it heard (minus a margin), not from the start.
    const since = peer.sinces[resumedFrom];
    expect(since).not.toBe(new Date(0).toISOString());
    expect(Date.parse(since!)).toBeGreaterThan(Date.now() - 120_000);
    await until(() => kit.events.some((e) => e.type === 'recovered'));
    expect(performance.now() - cutAt).toBeGreaterThan(failClosedAfter);
  });

  it('treats a stream gone silent (no keep-alive) as lost: fails closed, reconnects', async () => {
    const kit = await startKit(peer, { failClosedAfter: 1_000, feedSilenceTimeout: 1_500 });
    await kit.client.ready();
    const token = await peer.userToken(key);
    expect((await kit.get('/me', token)).status).toBe(200);
    const streams = peer.sinces.length;
    peer.silence();
    // The kit drops the silent stream and fails closed (news may have been missed since it was last heard)...
    await until(() => kit.events.some((e) => e.type === 'fail-closed'), 60_000);
    // ...and opens another, which catches up.
    await until(() => peer.sinces.length > streams, 60_000);
  });
});
