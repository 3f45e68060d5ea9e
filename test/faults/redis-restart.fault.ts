import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { signinKey } from '../../src/throttling/signin-attempts.service.js';
import {
  type CallResult,
  Client,
  Load,
  outcome,
  PASSWORD,
  Tally,
  uniqueEmail,
  until,
} from '../support/load.js';
import { PrivateRedis, serverOrSkip } from '../support/private-servers.js';
import { freePort, killAll, ServiceProcess } from '../support/process.js';
import { createPostgresDatabase } from '../support/services.js';

const OUTAGE_MS = 3_000;
const MAX_FAILURES = 3;
const FAILURE_WINDOW_MS = 15 * 60_000;

type Op = 'signup' | 'signin' | 'me';
interface Entry {
  op: Op;
  phase: string;
  endPhase: string;
  result: CallResult;
}

/** The service's JSON log lines whose message matches. */
function logLines(
  service: ServiceProcess,
  pattern: RegExp,
): { msg: string; context?: string; level: number }[] {
  return service.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg: string; context?: string; level: number })
    .filter((line) => typeof line.msg === 'string' && pattern.test(line.msg));
}

/**
 * Fault 2: the service's Redis (rate limits and signin failure counts shared
 * by every instance) is killed (SIGKILL) under load and started again. The
 * Redis server is a private one on a free port; the machine's shared Redis
 * is never touched.
 *
 * What the README promises: "if Redis goes away the service keeps working
 * with per-instance limits, says so in its log and in /health/ready, and
 * returns to Redis when it is back". The contract: /health/ready is 200 only
 * when the database — and Redis when configured — is reachable, so it is 503
 * (naming redis) during the outage.
 */
describe('fault: Redis killed and started under load (private server)', () => {
  let redisServer: PrivateRedis | undefined;
  let unavailable: string | undefined;
  let service: ServiceProcess;
  let redis: Redis;
  let dropDatabase: (() => Promise<void>) | undefined;
  let dataDir: string | undefined;
  const prefix = `gatehouse-fault:${process.pid}:${Date.now()}:`;

  beforeAll(async () => {
    const created = serverOrSkip(await PrivateRedis.create(), 'Redis killed and started');
    if ('skipped' in created) {
      unavailable = created.skipped;
      return;
    }
    redisServer = created.server;
    redis = new Redis(redisServer.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    redis.on('error', () => {}); // it is killed on purpose; reconnects by itself
    let database: Record<string, string>;
    if (inject('postgresAvailable')) {
      const created = await createPostgresDatabase();
      dropDatabase = created.drop;
      database = {
        DATABASE_URL: created.url,
        KEY_ENCRYPTION_SECRET: 'fault-test-secret-0123456789abcdef0123456789',
      };
    } else {
      dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-fault-redis-data-'));
      database = { DATA_DIR: dataDir };
    }
    service = new ServiceProcess(await freePort(), {
      ...database,
      REDIS_URL: redisServer.url,
      REDIS_KEY_PREFIX: prefix,
      RATE_LIMIT_PER_MINUTE: '100000',
      SIGNIN_MAX_FAILURES: String(MAX_FAILURES),
      LOG_LEVEL: 'info',
    });
    await service.waitFor('/health/ready', 60_000);
  }, 120_000);

  afterAll(async () => {
    await killAll();
    redis?.disconnect();
    await redisServer?.destroy();
    await dropDatabase?.();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps serving with per-instance limits while Redis is gone, says so, and shares limits again when it is back', async (ctx) => {
    if (!redisServer) return ctx.skip(unavailable);
    const server = redisServer;
    const client = new Client(service.baseUrl);

    /** Puts MAX_FAILURES recent failures for (email, 127.0.0.1) into Redis, as another instance would. */
    const seedFailuresInRedis = async (email: string) => {
      if (redis.status !== 'ready') await redis.connect().catch(() => {});
      const [seconds, micros] = await redis.time();
      const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      const key = `${prefix}throttle:${signinKey(email, '127.0.0.1')}`;
      for (let i = 0; i < MAX_FAILURES; i++) await redis.zadd(key, now - i, `other-instance-${randomUUID()}`);
      await redis.pexpire(key, FAILURE_WINDOW_MS);
    };
    const rateKey = `${prefix}throttle:rate:auth:127.0.0.1`;
    const signup = async () => {
      const email = uniqueEmail('redis');
      const result = await client.post('/auth/signup', { email, password: PASSWORD });
      expect(result.status, outcome(result)).toBe(201);
      return { email, token: result.body.accessToken as string };
    };

    // Redis up: counters live in Redis. Failures recorded there (by "another instance") block a signin here.
    const ready = await client.get('/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.info.redis.status).toBe('up');
    const sharedBefore = await signup();
    await seedFailuresInRedis(sharedBefore.email);
    const blockedBefore = await client.post('/auth/signin', {
      email: sharedBefore.email,
      password: PASSWORD,
    });
    expect(outcome(blockedBefore)).toBe('429 too_many_requests');
    expect(Number(await redis.get(rateKey))).toBeGreaterThan(0);

    // One account per loop: concurrent signins of one account from one client count against
    // SIGNIN_MAX_FAILURES while in flight (attempts are counted when they begin).
    const seeds = [await signup(), await signup(), await signup()];
    let phase = 'before';
    const entries: Entry[] = [];
    const ops: Op[] = ['signup', 'signin', 'me'];
    const load = new Load(3, async (worker, iteration) => {
      const op = ops[(worker + iteration) % ops.length]!;
      const started = phase;
      const result =
        op === 'signup'
          ? await client.post('/auth/signup', { email: uniqueEmail('redis-load'), password: PASSWORD })
          : op === 'signin'
            ? await client.post('/auth/signin', { email: seeds[worker]!.email, password: PASSWORD })
            : await client.get('/users/me', seeds[worker]!.token);
      entries.push({ op, phase: started, endPhase: phase, result });
    });

    let downReady: CallResult;
    let perInstance: string[];
    let readyBackMs: number;
    let sharedBackMs: number;
    try {
      await until(() => entries.filter((e) => e.phase === 'before').length >= 15, 30_000, 'load before');

      phase = 'down';
      await server.kill('SIGKILL');
      const downAt = performance.now();

      // Readiness names Redis; liveness and the API do not care.
      downReady = await client.get('/health/ready');
      expect((await client.get('/health/live')).status).toBe(200);

      // Limits still apply, per instance (in memory): MAX_FAILURES wrong passwords, then even the right one is refused.
      const victim = await signup();
      perInstance = [];
      for (let i = 0; i < MAX_FAILURES; i++) {
        perInstance.push(
          outcome(await client.post('/auth/signin', { email: victim.email, password: `wrong ${i}!` })),
        );
      }
      perInstance.push(
        outcome(await client.post('/auth/signin', { email: victim.email, password: PASSWORD })),
      );

      await until(
        () =>
          performance.now() - downAt >= OUTAGE_MS &&
          ops.every((op) => entries.filter((e) => e.phase === 'down' && e.op === op).length >= 5),
        OUTAGE_MS + 30_000,
        'load during the outage',
      );

      phase = 'starting';
      await server.start();
      const backAt = performance.now();
      phase = 'after';
      readyBackMs = await until(
        async () => (await client.get('/health/ready')).status === 200,
        30_000,
        'readiness back',
        10,
      );
      // Shared again once the service's own requests count in Redis.
      await redis.connect().catch(() => {});
      await until(
        async () => Number(await redis.get(rateKey).catch(() => null)) > 0,
        30_000,
        'counters in Redis',
        10,
      );
      sharedBackMs = performance.now() - backAt;
      await until(() => entries.filter((e) => e.phase === 'after').length >= 15, 30_000, 'load after');
    } finally {
      await load.stop();
    }

    // Shared again: failures recorded in Redis by "another instance" block a signin here once more.
    const sharedAfter = await signup();
    await seedFailuresInRedis(sharedAfter.email);
    const blockedAfter = await client.post('/auth/signin', { email: sharedAfter.email, password: PASSWORD });

    const tally = new Tally();
    for (const entry of entries) {
      const phases = entry.phase === entry.endPhase ? entry.phase : `${entry.phase}→${entry.endPhase}`;
      tally.add(`${phases} ${entry.op}`, outcome(entry.result));
    }
    console.log(tally.format(`Redis killed under load — ${entries.length} requests, outcomes by phase:`));
    const warned = logLines(service, /^Redis unavailable/);
    const answeredAgain = logLines(service, /^Redis answers again/);
    console.log(
      [
        `/health/ready while Redis was down: ${downReady.status} ${JSON.stringify(downReady.body)}`,
        `per-instance signin limit while down (${MAX_FAILURES} wrong, then right): ${perInstance.join(', ')}`,
        `after redis-server was back: /health/ready 200 in ${(readyBackMs / 1000).toFixed(3)} s, ` +
          `counters in Redis again in ${(sharedBackMs / 1000).toFixed(3)} s`,
        `failures seeded in Redis block a signin: before the outage ${outcome(blockedBefore)}, after ${outcome(blockedAfter)}`,
        `log: ${JSON.stringify(warned.map((line) => line.msg))} … ${JSON.stringify(answeredAgain.map((line) => line.msg))}`,
      ].join('\n'),
    );

    // The API kept working in every phase: no 5xx, no dropped connection, nothing throttled by mistake.
    const notOk = entries.filter((e) => e.result.status < 200 || e.result.status >= 300);
    expect(notOk.map((e) => `${e.phase} ${e.op} ${outcome(e.result)}`)).toEqual([]);
    expect(entries.filter((e) => e.phase === 'down' && e.endPhase === 'down').length).toBeGreaterThanOrEqual(
      15,
    );
    expect(service.hasExited).toBe(false);

    // While down: readiness 503 in the contract's shape, naming redis; per-instance limits enforced.
    expect(downReady.status).toBe(503);
    expect(downReady.body).toMatchObject({ statusCode: 503, code: 'unavailable' });
    expect(downReady.body.message).toMatch(/redis/);
    expect(perInstance).toEqual([
      ...Array<string>(MAX_FAILURES).fill('401 invalid_credentials'),
      '429 too_many_requests',
    ]);

    // Says so in the log, once per outage, and again when Redis answers.
    expect(warned).toHaveLength(1);
    expect(warned[0]!.msg).toMatch(/kept in memory, per instance/);
    expect(answeredAgain).toHaveLength(1);
    expect(answeredAgain[0]!.msg).toMatch(/shared again/);

    // Back to Redis: health up, limits shared again.
    const readyAfter = await client.get('/health/ready');
    expect(readyAfter.status).toBe(200);
    expect(readyAfter.body.info.redis.status).toBe('up');
    expect(outcome(blockedAfter)).toBe('429 too_many_requests');
    expect(readyBackMs).toBeLessThan(10_000);
  }, 180_000);
});
