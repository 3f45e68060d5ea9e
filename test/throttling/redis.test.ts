import { randomBytes, randomInt } from 'node:crypto';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/database/database.connection.js';
import { RedisCounterStore } from '../../src/throttling/redis-counter-store.js';
import { expectError, GOOD_PASSWORD, Http, type Reply, uniqueEmail } from '../support/http.js';
import { describeWithPostgresAndRedis } from '../support/server-suites.js';
import { createPostgresDatabase, REDIS_URL } from '../support/services.js';
import { createTestApp, type TestApp } from '../support/test-app.js';

const WRONG = 'not the right password at all';

/**
 * A client address no other run uses: the apps share one Redis (and its
 * default key prefix) with every other test run, so the counters these tests
 * touch are keyed by unique emails and by addresses like this one.
 */
const uniqueIp = () => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;

/** A Redis key namespace of this test alone (REDIS_KEY_PREFIX), so runs never share counters. */
const uniquePrefix = () => `gatehouse-test:${process.pid}:${randomBytes(6).toString('hex')}:`;

/** One request from a chosen socket address (Fastify injection's `remoteAddress`). */
async function call(
  t: TestApp,
  method: 'GET' | 'POST',
  url: string,
  ip: string,
  body?: object,
): Promise<Reply> {
  const response = await t.app.inject({ method, url, remoteAddress: ip, ...(body ? { payload: body } : {}) });
  return {
    status: response.statusCode,
    body: response.body === '' ? undefined : JSON.parse(response.body),
    headers: response.headers,
    text: response.body,
  };
}

const signin = (t: TestApp, email: string, password: string, ip: string) =>
  call(t, 'POST', '/auth/signin', ip, { email, password });

function expectThrottled(reply: Reply): void {
  expectError(reply, 429, 'too_many_requests');
  expect(Number(reply.headers['retry-after'])).toBeGreaterThanOrEqual(1);
}

/** Polls `check` until it holds (bounded): waits for an event, asserts nothing by itself. */
async function until(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

const logMessages = (t: TestApp, pattern: RegExp) =>
  t.logs.filter((line) => typeof line.msg === 'string' && pattern.test(line.msg));

describeWithPostgresAndRedis('throttling counters in Redis', () => {
  describe('RedisCounterStore (a unique key prefix for this run)', () => {
    const prefix = `gatehouse-test:${process.pid}:${randomBytes(6).toString('hex')}:`;
    let one: Redis;
    let two: Redis;
    let storeOne: RedisCounterStore;
    let storeTwo: RedisCounterStore;

    beforeAll(async () => {
      one = new Redis(REDIS_URL);
      two = new Redis(REDIS_URL);
      storeOne = new RedisCounterStore(one, { prefix });
      storeTwo = new RedisCounterStore(two, { prefix });
    });
    afterAll(async () => {
      const keys = await one.keys(`${prefix}*`);
      if (keys.length > 0) await one.del(...keys);
      one?.disconnect();
      two?.disconnect();
    });

    it('two clients count one fixed window, with the time left from Redis', async () => {
      expect(await storeOne.hit('w', 60_000)).toMatchObject({ count: 1 });
      expect(await storeTwo.hit('w', 60_000)).toMatchObject({ count: 2 });
      const third = await storeOne.hit('w', 60_000);
      expect(third.count).toBe(3);
      expect(third.resetMs).toBeGreaterThan(55_000);
      expect(third.resetMs).toBeLessThanOrEqual(60_000);
      expect(await one.pttl(`${prefix}w`)).toBeGreaterThan(0);
    });

    it('two clients share the sliding window of attempts; release and clear work across them', async () => {
      expect(await storeOne.reserve('s', 'a', 900_000, 2)).toEqual({ reserved: true });
      expect(await storeTwo.reserve('s', 'b', 900_000, 2)).toEqual({ reserved: true });
      const refused = await storeOne.reserve('s', 'c', 900_000, 2);
      expect(refused.reserved).toBe(false);
      if (!refused.reserved) {
        expect(refused.retryMs).toBeGreaterThan(890_000);
        expect(refused.retryMs).toBeLessThanOrEqual(900_000);
      }
      await storeTwo.release('s', 'a');
      expect(await storeOne.reserve('s', 'c', 900_000, 2)).toEqual({ reserved: true });
      await storeTwo.clear('s');
      expect(await one.exists(`${prefix}s`)).toBe(0);
    });

    it('loads its scripts again after Redis forgot them', async () => {
      await one.script('FLUSH');
      expect((await storeTwo.hit('flushed', 60_000)).count).toBe(1);
    });

    it('keeps keys of another prefix apart', async () => {
      const other = new RedisCounterStore(one, { prefix: `${prefix}other:` });
      await storeOne.hit('apart', 60_000);
      expect((await other.hit('apart', 60_000)).count).toBe(1);
    });
  });

  describe('two instances on one database and one Redis', () => {
    let drop: () => Promise<void>;
    let a: TestApp;
    let b: TestApp;

    beforeAll(async () => {
      const database = await createPostgresDatabase();
      drop = database.drop;
      const connect = () => openDatabase({ url: database.url, poolSize: 4, dataDir: '' });
      // Both instances share one namespace, of this run alone.
      const env = {
        REDIS_URL,
        REDIS_KEY_PREFIX: uniquePrefix(),
        RATE_LIMIT_PER_MINUTE: '10',
        SIGNIN_MAX_FAILURES: '5',
      };
      a = await createTestApp(env, { connection: await connect() });
      b = await createTestApp(env, { connection: await connect() });
    });
    afterAll(async () => {
      await a?.close();
      await b?.close();
      await drop?.();
    });

    it('share the signin failure count: failures on A count on B', async () => {
      const user = await new Http(a.app).signup();
      const ip = uniqueIp();
      for (const app of [a, b, a, b, a]) {
        expectError(await signin(app, user.email, WRONG, ip), 401, 'invalid_credentials');
      }
      expectThrottled(await signin(b, user.email, GOOD_PASSWORD, ip));
      expectThrottled(await signin(a, user.email, GOOD_PASSWORD, ip));
      // Another client is not affected, on either instance.
      expect((await signin(b, user.email, GOOD_PASSWORD, uniqueIp())).status).toBe(200);
    });

    it('a success on one instance clears the count on both', async () => {
      const user = await new Http(a.app).signup();
      const ip = uniqueIp();
      for (const app of [a, b, a, b]) {
        expectError(await signin(app, user.email, WRONG, ip), 401, 'invalid_credentials');
      }
      expect((await signin(b, user.email, GOOD_PASSWORD, ip)).status).toBe(200);
      for (const app of [a, b, a, b, a]) {
        expectError(await signin(app, user.email, WRONG, ip), 401, 'invalid_credentials');
      }
      expectThrottled(await signin(b, user.email, GOOD_PASSWORD, ip));
    });

    it('share the per-minute limit: 10 requests spread over A and B, the 11th is 429 on either', async () => {
      const ip = uniqueIp();
      for (let i = 0; i < 10; i++) {
        expect((await call(i % 2 ? a : b, 'POST', '/auth/signout', ip)).status).toBe(401);
      }
      expectThrottled(await call(a, 'POST', '/auth/signout', ip));
      expectThrottled(await call(b, 'POST', '/auth/signout', ip));
      expect((await call(a, 'POST', '/auth/signout', uniqueIp())).status).toBe(401);
    });

    it('/health/ready checks Redis too', async () => {
      const ready = await call(a, 'GET', '/health/ready', uniqueIp());
      expect(ready.status, ready.text).toBe(200);
      expect(ready.body.details).toMatchObject({ database: { status: 'up' }, redis: { status: 'up' } });
    });
  });

  describe('Redis unreachable from the start', () => {
    let t: TestApp;

    beforeAll(async () => {
      t = await createTestApp({
        REDIS_URL: 'redis://127.0.0.1:1',
        REDIS_KEY_PREFIX: uniquePrefix(),
        RATE_LIMIT_PER_MINUTE: '8',
        SIGNIN_MAX_FAILURES: '3',
      });
    });
    afterAll(() => t?.close());

    it('the service works, with per-instance limits, says so once, and is not ready', async () => {
      const http = new Http(t.app);
      const user = await http.signup(uniqueEmail(), GOOD_PASSWORD);
      const ip = uniqueIp();
      for (let i = 0; i < 3; i++) {
        expectError(await signin(t, user.email, WRONG, ip), 401, 'invalid_credentials');
      }
      expectThrottled(await signin(t, user.email, GOOD_PASSWORD, ip)); // in-memory brute-force limit
      expect((await signin(t, user.email, GOOD_PASSWORD, uniqueIp())).status).toBe(200);

      const limited = uniqueIp();
      for (let i = 0; i < 8; i++) expect((await call(t, 'POST', '/auth/signout', limited)).status).toBe(401);
      expectThrottled(await call(t, 'POST', '/auth/signout', limited)); // in-memory rate limit

      expect(logMessages(t, /kept in memory, per instance/)).toHaveLength(1);
      expect(t.rawLogs()).not.toContain(GOOD_PASSWORD);

      const ready = await call(t, 'GET', '/health/ready', uniqueIp());
      expectError(ready, 503, 'unavailable');
      expect(ready.body.message).toBe('Not ready: redis unreachable');
      expect((await call(t, 'GET', '/health/live', uniqueIp())).status).toBe(200);
    });
  });

  describe('Redis lost and back (through a proxy the test cuts)', () => {
    let proxy: RedisProxy;
    let t: TestApp;

    beforeAll(async () => {
      proxy = await RedisProxy.start(new URL(REDIS_URL));
      t = await createTestApp({
        REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
        REDIS_KEY_PREFIX: uniquePrefix(),
        RATE_LIMIT_PER_MINUTE: '1000000',
        SIGNIN_MAX_FAILURES: '3',
      });
    });
    afterAll(async () => {
      await t?.close();
      await proxy?.stop();
    });

    const ready = async () => (await call(t, 'GET', '/health/ready', '192.0.2.1')).status;

    it('falls back to memory while Redis is away, and goes back to the shared counts when it returns', async () => {
      const user = await new Http(t.app).signup();
      const ip = uniqueIp();
      // Two failures, counted in Redis.
      for (let i = 0; i < 2; i++) {
        expectError(await signin(t, user.email, WRONG, ip), 401, 'invalid_credentials');
      }

      await proxy.cut();
      await until(async () => (await ready()) === 503);
      // Signins still work; the counts meanwhile are this instance's own (starting from zero).
      const other = uniqueIp();
      for (let i = 0; i < 3; i++) {
        expectError(await signin(t, user.email, WRONG, other), 401, 'invalid_credentials');
      }
      expectThrottled(await signin(t, user.email, GOOD_PASSWORD, other));
      expect((await signin(t, user.email, GOOD_PASSWORD, uniqueIp())).status).toBe(200);
      expect(logMessages(t, /kept in memory, per instance/)).toHaveLength(1);

      await proxy.restore();
      await until(async () => (await ready()) === 200);
      // Back on Redis: the two failures counted there before the outage still count.
      expectError(await signin(t, user.email, WRONG, ip), 401, 'invalid_credentials');
      expectThrottled(await signin(t, user.email, GOOD_PASSWORD, ip));
      expect(logMessages(t, /shared again/)).toHaveLength(1);
      expect(logMessages(t, /kept in memory, per instance/)).toHaveLength(1);
    });
  });
});

/** A TCP proxy in front of Redis that the test can cut (close every connection, refuse new ones) and restore. */
class RedisProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly target: URL,
    public port = 0,
  ) {}

  static async start(target: URL): Promise<RedisProxy> {
    const proxy = new RedisProxy(target);
    await proxy.restore();
    return proxy;
  }

  async restore(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(Number(this.target.port || 6379), this.target.hostname);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  stop(): Promise<void> {
    return this.cut();
  }
}
