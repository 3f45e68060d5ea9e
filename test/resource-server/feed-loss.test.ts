import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/database/database.connection.js';
import { ROOT_EMAIL, ROOT_PASSWORD } from '../support/admin.js';
import { GOOD_PASSWORD, uniqueEmail } from '../support/http.js';
import { freePort, killAll, ServiceProcess } from '../support/process.js';
import { describeWithPostgres } from '../support/server-suites.js';
import { createPostgresDatabase } from '../support/services.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { TEST_KEY_SECRET } from '../support/test-app.js';
import { NO_THROTTLE } from '../support/tokens.js';
import {
  createServiceClient,
  type Example,
  kitOptions,
  type ListeningGatehouse,
  refusal,
  startExample,
  startGatehouse,
} from './harness.js';

/** Polls `check` until it holds (generous bound: waits for an event, asserts nothing itself). */
async function until(check: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await check()) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

const examples: Example[] = [];
afterEach(async () => {
  await Promise.all(examples.splice(0).map((example) => example.close()));
});

describe('the feed cut between the example and Gatehouse (a TCP proxy)', () => {
  let gatehouse: ListeningGatehouse;
  let proxy: TcpProxy;
  let client: { clientId: string; clientSecret: string };

  beforeAll(async () => {
    gatehouse = await startGatehouse();
    client = await createServiceClient(gatehouse.http);
    proxy = await TcpProxy.start({ host: '127.0.0.1', port: gatehouse.port });
  });
  afterAll(async () => {
    await proxy?.down();
    await gatehouse?.close();
  });

  /** The example reading the feed through the proxy (keys and `iss` straight from Gatehouse). */
  async function behindProxy(extra: { failClosedAfter?: number; feedSilenceTimeout?: number }) {
    const example = await startExample(
      kitOptions(gatehouse, client, {
        jwksUri: `${gatehouse.url}/.well-known/jwks.json`,
        revocationEndpoint: `http://127.0.0.1:${proxy.port}/oauth/revocations`,
        ...extra,
      }),
    );
    examples.push(example);
    return example;
  }

  it('fails closed after failClosedAfter, recovers by itself, and honours a signout made while cut', async () => {
    const failClosedAfter = 2_000;
    const example = await behindProxy({ failClosedAfter });
    const revoked = await gatehouse.http.signup();
    const live = await gatehouse.http.signup();
    expect((await example.get('/me', revoked.accessToken)).status).toBe(200);

    const cutAt = performance.now();
    await proxy.down();
    await until(async () => (await example.get('/me', live.accessToken)).status === 503);
    expect(performance.now() - cutAt, 'not refused before failClosedAfter').toBeGreaterThanOrEqual(
      failClosedAfter,
    );
    expect((await example.get('/me', live.accessToken)).body.code).toBe('unavailable');
    expect((await example.get('/hello')).status).toBe(200);

    expect((await gatehouse.http.post('/auth/signout', { token: revoked.accessToken })).status).toBe(204);
    await proxy.up();
    await until(async () => (await example.get('/me', live.accessToken)).status === 200);
    // Caught up before serving again: the signout made while cut is refused from the first answer on.
    const after = await example.get('/me', revoked.accessToken);
    expect(after.status).toBe(401);
    expect(after.body.code).toBe('session_revoked');
  });

  it('a connection gone silent (frozen, nothing reset) fails closed and is replaced, nothing missed', async () => {
    // Gatehouse sends a keep-alive every 15 s: silence past 20 s means the stream is dead.
    const example = await behindProxy({ failClosedAfter: 2_000, feedSilenceTimeout: 20_000 });
    const revoked = await gatehouse.http.signup();
    const live = await gatehouse.http.signup();
    expect(proxy.freeze()).toBeGreaterThan(0);
    expect((await gatehouse.http.post('/auth/signout', { token: revoked.accessToken })).status).toBe(204);
    // Not heard through the frozen stream; once the kit gives up on it, it refuses (503), then resumes.
    await until(async () => (await example.get('/me', live.accessToken)).status === 503, 90_000);
    await until(async () => (await example.get('/me', live.accessToken)).status === 200, 90_000);
    expect((await example.get('/me', revoked.accessToken)).body.code).toBe('session_revoked');
  });
});

describe('Gatehouse restarted under the example (the built service as a process)', () => {
  let dataDir: string;
  afterAll(async () => {
    await killAll();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('the example fails closed while Gatehouse is down and recovers when it is back, with no restart of its own', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-rs-'));
    const port = await freePort();
    const env = {
      ...NO_THROTTLE,
      DATA_DIR: dataDir,
      KEY_ENCRYPTION_SECRET: TEST_KEY_SECRET,
      ADMIN_EMAIL: ROOT_EMAIL,
      ADMIN_PASSWORD: ROOT_PASSWORD,
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      LOG_LEVEL: 'warn',
    };
    let service = new ServiceProcess(port, env);
    await service.waitFor();
    const json = async (response: Response) => {
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    };
    const post = (path: string, body: unknown, token?: string) =>
      service
        .fetch(path, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: JSON.stringify(body),
        })
        .then(json);
    const admin = await post('/auth/signin', { email: ROOT_EMAIL, password: ROOT_PASSWORD });
    const created = await post(
      '/clients',
      { name: 'restart-test', scopes: ['revocations:read'] },
      admin.body.accessToken,
    );
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const failClosedAfter = 2_000;
    const example = await startExample({
      issuer: service.baseUrl,
      clientId: created.body.clientId,
      clientSecret: created.body.clientSecret,
      failClosedAfter,
    });
    examples.push(example);
    const user = await post('/auth/signup', { email: uniqueEmail('restart'), password: GOOD_PASSWORD });
    expect(user.status).toBe(201);
    expect((await example.get('/me', user.body.accessToken)).status).toBe(200);

    const stoppedAt = performance.now();
    await service.stop();
    await until(async () => (await example.get('/me', user.body.accessToken)).status === 503);
    expect(performance.now() - stoppedAt).toBeGreaterThanOrEqual(failClosedAfter);

    service = new ServiceProcess(port, env);
    await service.waitFor();
    await until(async () => (await example.get('/me', user.body.accessToken)).status === 200, 90_000);
    // And the feed works again: a signout after the restart is refused within 1 s.
    expect((await post('/auth/signout', {}, user.body.accessToken)).status).toBe(204);
    const measured = await refusal(example, '/me', user.body.accessToken, 401, performance.now());
    expect(measured.lastAccepted ?? 0).toBeLessThan(1_000);
  });
});

describeWithPostgres('two Gatehouse instances on one PostgreSQL database', () => {
  let drop: () => Promise<void>;
  let a: ListeningGatehouse;
  let b: ListeningGatehouse;

  beforeAll(async () => {
    const database = await createPostgresDatabase();
    drop = database.drop;
    const connect = () => openDatabase({ url: database.url, poolSize: 4, dataDir: '' });
    const portA = await freePort();
    const issuer = `http://127.0.0.1:${portA}`;
    a = await startGatehouse({ JWT_ISSUER: issuer }, { connection: await connect(), port: portA });
    b = await startGatehouse({ JWT_ISSUER: issuer }, { connection: await connect() });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await drop?.();
  });

  it('a signout, a disable and a role change on the instance the example does not follow: refused within 1 s', async () => {
    const client = await createServiceClient(a.http);
    const example = await startExample(kitOptions(a, client));
    examples.push(example);

    const signedOut = await b.http.signup();
    expect((await example.get('/me', signedOut.accessToken)).status).toBe(200);
    expect((await b.http.post('/auth/signout', { token: signedOut.accessToken })).status).toBe(204);
    const signout = await refusal(example, '/me', signedOut.accessToken, 401, performance.now());
    expect(signout.lastAccepted ?? 0).toBeLessThan(1_000);

    const admin = await b.http.signin(ROOT_EMAIL, ROOT_PASSWORD);
    const disabled = await b.http.signup();
    const patched = await b.http.patch(`/users/${disabled.id}`, {
      token: admin.accessToken,
      body: { disabled: true },
    });
    expect(patched.status, patched.text).toBe(200);
    const disable = await refusal(example, '/me', disabled.accessToken, 401, performance.now());
    expect(disable.lastAccepted ?? 0).toBeLessThan(1_000);

    const promoted = await b.http.signup();
    const roles = await b.http.patch(`/users/${promoted.id}`, {
      token: admin.accessToken,
      body: { roles: ['user', 'admin'] },
    });
    expect(roles.status, roles.text).toBe(200);
    const roleChange = await refusal(example, '/me', promoted.accessToken, 401, performance.now());
    expect(roleChange.lastAccepted ?? 0).toBeLessThan(1_000);
    console.log('refused after a change on the other instance (ms):', { signout, disable, roleChange });
  });
});
