import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CallResult,
  Client,
  Load,
  mapLimit,
  outcome,
  PASSWORD,
  table,
  Tally,
  uniqueEmail,
  until,
} from '../support/load.js';
import { PrivatePostgres, serverOrSkip } from '../support/private-servers.js';
import { freePort, killAll, ServiceProcess } from '../support/process.js';

/** How long each outage lasts: long enough for pool timeouts, reconnect backoffs and many requests. */
const OUTAGE_MS = 3_000;

type Op = 'signup' | 'signin' | 'me';
interface Entry {
  op: Op;
  /** The phase when the request started, and when it ended. */
  phase: string;
  endPhase: string;
  result: CallResult;
  email?: string;
}

/**
 * Fault 1: the service's PostgreSQL server is really stopped (pg_ctl stop,
 * once `-m fast` — sessions terminated, as in an operator's restart — and once
 * `-m immediate` — killed, as in a crash) and started again, while signups,
 * signins and GET /users/me run against a real `node dist/bundle/main.js`.
 *
 * The server is a private one (initdb in a temporary directory, a free port):
 * the machine's shared PostgreSQL, which other tests use, is never stopped.
 */
describe('fault: PostgreSQL stopped and started under load (private server)', () => {
  let server: PrivatePostgres | undefined;
  let unavailable: string | undefined;
  let service: ServiceProcess;

  beforeAll(async () => {
    const created = serverOrSkip(await PrivatePostgres.create(), 'PostgreSQL stopped and started');
    if ('skipped' in created) {
      unavailable = created.skipped;
      return;
    }
    server = created.server;
    service = new ServiceProcess(await freePort(), {
      DATABASE_URL: server.url,
      DATABASE_POOL_SIZE: '5',
      KEY_ENCRYPTION_SECRET: 'fault-test-secret-0123456789abcdef0123456789',
      RATE_LIMIT_PER_MINUTE: '1000000',
      LOG_LEVEL: 'info',
    });
    await service.waitFor('/health/ready', 60_000);
  }, 120_000);

  afterAll(async () => {
    await killAll();
    await server?.destroy();
  });

  it('answers 503 unavailable while it is down, recovers by itself, and loses no acknowledged signup', async (ctx) => {
    if (!server) return ctx.skip(unavailable);
    const pgServer = server;
    const client = new Client(service.baseUrl);

    const seeds = await Promise.all(
      [0, 1, 2].map(async () => {
        const email = uniqueEmail('pg-seed');
        const result = await client.post('/auth/signup', { email, password: PASSWORD });
        expect(result.status, JSON.stringify(result.body)).toBe(201);
        return { email, token: result.body.accessToken as string };
      }),
    );

    let phase = 'before';
    const records: Entry[] = [];
    const ops: Op[] = ['signup', 'signin', 'me'];
    const load = new Load(3, async (worker, iteration) => {
      const op = ops[(worker + iteration) % ops.length]!;
      const seed = seeds[worker]!; // one account per loop
      const started = phase;
      let result: CallResult;
      let email: string | undefined;
      if (op === 'signup') {
        email = uniqueEmail('pg-load');
        result = await client.post('/auth/signup', { email, password: PASSWORD });
      } else if (op === 'signin') {
        result = await client.post('/auth/signin', { email: seed.email, password: PASSWORD });
      } else {
        result = await client.get('/users/me', seed.token);
      }
      records.push({ op, phase: started, endPhase: phase, result, email });
    });

    const countIn = (name: string, op?: Op) =>
      records.filter((r) => r.phase === name && r.endPhase === name && (!op || r.op === op)).length;
    const readiness: { phase: string; status: number; code?: string }[] = [];
    const cycles: {
      mode: string;
      downMs: number;
      readyBackMs: number;
      firstSuccess: { [op: string]: number };
    }[] = [];

    try {
      await until(
        () => records.filter((r) => r.phase === 'before' && r.result.status < 300).length >= 15,
        30_000,
      );

      for (const [index, mode] of (['fast', 'immediate'] as const).entries()) {
        const cycle = index + 1;
        phase = `stopping#${cycle}`;
        await pgServer.stop(mode);
        const downAt = performance.now();
        phase = `down#${cycle}`;

        // While it is down: readiness says so, liveness does not, requests get 503.
        const ready = await client.get('/health/ready');
        readiness.push({ phase, status: ready.status, code: ready.code });
        const live = await client.get('/health/live');
        expect(live.status, `${outcome(live)}\n${service.stderr}\n${service.stdout.slice(-4000)}`).toBe(200);
        await until(
          () => performance.now() - downAt >= OUTAGE_MS && ops.every((op) => countIn(phase, op) >= 5),
          OUTAGE_MS + 30_000,
          `requests answered during outage ${cycle}`,
        );
        const readyLate = await client.get('/health/ready');
        readiness.push({ phase, status: readyLate.status, code: readyLate.code });
        expect(readyLate.body.message).toMatch(/database/);
        expect(service.hasExited).toBe(false);

        phase = `starting#${cycle}`;
        const startCalled = performance.now();
        await pgServer.start();
        const backAt = performance.now();
        phase = `after#${cycle}`;
        const downMs = backAt - downAt;

        // Recovery, without a restart of the service: readiness, and the first success of each operation.
        const readyBackMs = await until(
          async () => (await client.get('/health/ready')).status === 200,
          30_000,
          'readiness back',
          10,
        );
        const firstSuccess: { [op: string]: number } = {};
        await until(
          () => {
            for (const op of ops) {
              if (firstSuccess[op] !== undefined) continue;
              const ok = records.find(
                (r) =>
                  r.op === op && r.result.startedAt >= backAt && r.result.status < 300 && r.result.status > 0,
              );
              if (ok) firstSuccess[op] = ok.result.endedAt - backAt;
            }
            return ops.every((op) => firstSuccess[op] !== undefined);
          },
          30_000,
          `every operation succeeding again after restart ${cycle}`,
        );
        cycles.push({ mode, downMs, readyBackMs, firstSuccess });
        console.log(
          `cycle ${cycle} (pg_ctl stop -m ${mode}): down ${(downMs / 1000).toFixed(1)} s ` +
            `(pg_ctl start took ${((backAt - startCalled) / 1000).toFixed(2)} s); after the server was back: ` +
            `/health/ready 200 in ${(readyBackMs / 1000).toFixed(3)} s, first success ` +
            ops.map((op) => `${op} ${(firstSuccess[op]! / 1000).toFixed(3)} s`).join(', '),
        );
        await until(
          () => records.filter((r) => r.phase === phase && r.result.status < 300).length >= 15,
          30_000,
          `load after restart ${cycle}`,
        );
      }
    } finally {
      await load.stop();
    }

    // What every request got, by phase.
    const tally = new Tally();
    for (const record of records) {
      const phases = record.phase === record.endPhase ? record.phase : `${record.phase}→${record.endPhase}`;
      tally.add(`${phases} ${record.op}`, outcome(record.result));
    }
    console.log(
      tally.format(`PostgreSQL stop/start under load — ${records.length} requests, outcomes by phase:`),
    );

    // Acknowledged signups: every one must exist afterwards, in the database and by signing in.
    const signups = records.filter((r) => r.op === 'signup');
    const acknowledged = signups.filter((r) => r.result.status === 201).map((r) => r.email!);
    const unacknowledged = signups.filter((r) => r.result.status !== 201).map((r) => r.email!);
    const database = new pg.Client({ connectionString: pgServer.url });
    await database.connect();
    let stored: Set<string>;
    try {
      const rows = await database.query<{ email: string }>(
        'select email from users where email = any($1::text[])',
        [[...acknowledged, ...unacknowledged]],
      );
      stored = new Set(rows.rows.map((row) => row.email));
    } finally {
      await database.end();
    }
    const signins = await mapLimit(acknowledged, 2, (email) =>
      client.post('/auth/signin', { email, password: PASSWORD }),
    );
    const signinFailures = signins
      .map((signin, index) =>
        signin.status === 200 ? undefined : `${acknowledged[index]}: ${outcome(signin)}`,
      )
      .filter((failure) => failure !== undefined);
    const missing = acknowledged.filter((email) => !stored.has(email));

    console.log(
      table([
        [
          'signups',
          'sent',
          'acknowledged 201',
          'in database',
          'sign in afterwards',
          'lost',
          'unacknowledged but stored',
        ],
        [
          'total',
          signups.length,
          acknowledged.length,
          acknowledged.length - missing.length,
          acknowledged.length - signinFailures.length,
          missing.length,
          unacknowledged.filter((email) => stored.has(email)).length,
        ],
      ]),
    );
    console.log(
      'readiness while down:',
      readiness.map((r) => `${r.phase} ${r.status} ${r.code ?? ''}`).join('; '),
    );

    // Never a 5xx other than 503 unavailable, never a dropped connection: the service itself stayed up.
    const serverErrors = records.filter((r) => r.result.status >= 500 && r.result.status !== 503);
    expect(serverErrors.map((r) => `${r.phase} ${r.op} ${outcome(r.result)}`)).toEqual([]);
    const dropped = records.filter((r) => r.result.status === 0);
    expect(dropped.map((r) => `${r.phase} ${r.op} ${outcome(r.result)}`)).toEqual([]);
    for (const record of records.filter((r) => r.result.status === 503)) {
      expect(record.result.body).toEqual({
        statusCode: 503,
        error: 'Service Unavailable',
        code: 'unavailable',
        message: expect.any(String),
      });
    }
    expect(service.hasExited).toBe(false);
    expect(service.stdout).not.toMatch(/"statusCode":500/);

    // While it was down (requests that started and ended in the outage): 503 unavailable, every one.
    for (const cycle of [1, 2]) {
      const during = records.filter((r) => r.phase === `down#${cycle}` && r.endPhase === `down#${cycle}`);
      expect(during.length).toBeGreaterThanOrEqual(15);
      expect(
        during
          .filter((r) => outcome(r.result) !== '503 unavailable')
          .map((r) => `${r.op} ${outcome(r.result)}`),
      ).toEqual([]);
    }
    expect(readiness.map((r) => `${r.status} ${r.code}`)).toEqual(Array(4).fill('503 unavailable'));

    // Recovered by itself, quickly.
    for (const cycle of cycles) {
      expect(cycle.readyBackMs).toBeLessThan(10_000);
      for (const ms of Object.values(cycle.firstSuccess)) expect(ms).toBeLessThan(10_000);
    }

    // Nothing acknowledged was lost.
    expect(acknowledged.length).toBeGreaterThanOrEqual(10);
    expect(missing).toEqual([]);
    expect(signinFailures).toEqual([]);
  }, 180_000);
});
