import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { GatehouseClient, type GatehouseModuleOptions } from '@gatehouse/nest';
import { expect } from 'vitest';
import { AppModule, createApp } from '../../examples/resource-server/src/app.js';
import type { RawEnv } from '../../src/config/config.schema.js';
import type { DatabaseConnection } from '../../src/database/database.types.js';
import { signinRoot, ROOT_EMAIL, ROOT_PASSWORD } from '../support/admin.js';
import { Http } from '../support/http.js';
import { freePort } from '../support/process.js';
import { createTestApp, type TestApp } from '../support/test-app.js';
import { NO_THROTTLE } from '../support/tokens.js';

/** A Gatehouse listening on 127.0.0.1 (the kit reaches it over real sockets), with a first admin. */
export interface ListeningGatehouse {
  t: TestApp;
  http: Http;
  url: string;
  port: number;
  close: () => Promise<void>;
}

export async function startGatehouse(
  env: RawEnv = {},
  options: { connection?: DatabaseConnection; port?: number } = {},
): Promise<ListeningGatehouse> {
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const t = await createTestApp(
    { ...NO_THROTTLE, ADMIN_EMAIL: ROOT_EMAIL, ADMIN_PASSWORD: ROOT_PASSWORD, PUBLIC_URL: url, ...env },
    options.connection ? { connection: options.connection } : {},
  );
  await t.app.listen(port, '127.0.0.1');
  return { t, http: new Http(t.app), url, port, close: () => t.close() };
}

/** A service client that may read the revocation feed, made through the admin API. */
export async function createServiceClient(
  http: Http,
  scopes: string[] = ['revocations:read'],
): Promise<{ clientId: string; clientSecret: string }> {
  const admin = await signinRoot(http);
  const reply = await http.post('/clients', {
    token: admin.accessToken,
    body: { name: `resource-server-${Date.now()}`, scopes },
  });
  expect(reply.status, reply.text).toBe(201);
  return { clientId: reply.body.clientId, clientSecret: reply.body.clientSecret };
}

export interface Example {
  app: NestFastifyApplication;
  kit: GatehouseClient;
  get: (path: string, token?: string) => Promise<{ status: number; body: any }>;
  close: () => Promise<void>;
}

/** examples/resource-server's application, in this process, configured with `options`; caught up. */
export async function startExample(options: GatehouseModuleOptions): Promise<Example> {
  const app = await createApp(
    AppModule.register({ reconnectDelay: { initial: 50, max: 1_000 }, ...options }),
    {
      logger: false,
    },
  );
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  const kit = app.get(GatehouseClient);
  await kit.ready(60_000);
  return {
    app,
    kit,
    get: async (path, token) => {
      const response = await app.inject({
        method: 'GET',
        url: path,
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
      return { status: response.statusCode, body: response.json() };
    },
    close: () => app.close(),
  };
}

/**
 * How the example answers `token` on `path` after a revocation whose
 * response arrived at `revokedAt` (performance.now()): polls until it
 * answers `refused` (bounded generously: a busy machine slows the polling,
 * not the promise) and returns, in ms after `revokedAt`, when the last
 * request it still accepted was sent and when the first refused one was. The
 * promise — refused within 1 s — holds when no request sent 1 s or more after
 * the revocation was accepted.
 */
export async function refusal(
  example: Example,
  path: string,
  token: string,
  refused: number,
  revokedAt: number,
): Promise<{ lastAccepted: number | undefined; firstRefused: number; code: string }> {
  let lastAccepted: number | undefined;
  const deadline = revokedAt + 30_000;
  while (performance.now() < deadline) {
    const sentAt = performance.now() - revokedAt;
    const reply = await example.get(path, token);
    if (reply.status === refused) return { lastAccepted, firstRefused: sentAt, code: reply.body.code };
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    lastAccepted = sentAt;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error(`${path} was still accepted 30 s after the revocation`);
}

/** The example's options for a Gatehouse and a service client. */
export function kitOptions(
  gatehouse: { url: string },
  client: { clientId: string; clientSecret: string },
  extra: Partial<GatehouseModuleOptions> = {},
): GatehouseModuleOptions {
  return { issuer: gatehouse.url, clientId: client.clientId, clientSecret: client.clientSecret, ...extra };
}
