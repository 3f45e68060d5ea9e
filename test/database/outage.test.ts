import { afterAll, beforeAll, expect, it } from 'vitest';
import { openDatabase } from '../../src/database/database.connection.js';
import { expectError, GOOD_PASSWORD, Http } from '../support/http.js';
import { describeWithPostgres } from '../support/server-suites.js';
import { createPostgresDatabase } from '../support/services.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { createTestApp, type TestApp } from '../support/test-app.js';

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await check()) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

describeWithPostgres('PostgreSQL unreachable and back', () => {
  let database: { url: string; drop: () => Promise<void> };
  let proxy: TcpProxy;
  let t: TestApp;
  let http: Http;

  beforeAll(async () => {
    database = await createPostgresDatabase();
    const target = new URL(database.url);
    proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 5432) });
    const viaProxy = new URL(database.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    t = await createTestApp(
      {},
      { connection: await openDatabase({ url: viaProxy.toString(), poolSize: 4, dataDir: '' }) },
    );
    http = new Http(t.app);
  });
  afterAll(async () => {
    await t?.close();
    await proxy?.down();
    await database?.drop();
  });

  it('answers 503 unavailable while the database is gone, and recovers by itself when it returns', async () => {
    const user = await http.signup();
    await proxy.down();

    expectError(
      await http.post('/auth/signin', { body: { email: user.email, password: GOOD_PASSWORD } }),
      503,
      'unavailable',
    );
    expectError(await http.get('/users/me', { token: user.accessToken }), 503, 'unavailable');
    const ready = await http.get('/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.text).not.toMatch(/at \S+:\d+:\d+/); // no stack
    expect((await http.get('/health/live')).status).toBe(200);

    await proxy.up();
    const recoveredMs = await until(async () => (await http.get('/health/ready')).status === 200, 10_000);
    console.log(`recovered ${Math.round(recoveredMs)} ms after the database came back`);
    expect((await http.get('/users/me', { token: user.accessToken })).status).toBe(200);
    await http.signin(user.email);
  });
});
