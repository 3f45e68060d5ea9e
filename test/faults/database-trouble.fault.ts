import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  type CallResult,
  Client,
  Load,
  outcome,
  PASSWORD,
  table,
  Tally,
  uniqueEmail,
  until,
} from '../support/load.js';
import { runningServerUrl } from '../../src/database/embedded-postgres.js';
import { PrivatePostgres, serverOrSkip } from '../support/private-servers.js';
import { freePort, killAll, ServiceProcess } from '../support/process.js';
import { adminQuery, POSTGRES_URL, withDatabase } from '../support/services.js';

/**
 * Fault 5: database trouble that is not a stopped server, with two service
 * processes (`node dist/bundle/main.js`) on one database under load — the database
 * refuses connections, turns read-only, has `users` locked, has no
 * connection left for the service's role, restarts. For each: no 500, no
 * request longer than the bounds (plus a busy machine's margin), readiness
 * 503 while it lasts, recovery without a restart of the service, no
 * acknowledged signup lost, and the trouble counted by its class.
 *
 * The first four run on a database and role of their own on the machine's
 * PostgreSQL (TEST_POSTGRES_URL, a superuser); the restart on a private
 * server (test/support/private-servers.ts), never the shared one. The
 * embedded server meets what can happen to it: a lock, a crashed server process.
 */

/** The service's bounds, set explicitly (they are the defaults): every request must end within them. */
const BOUNDS_MS = { statement: 5_000, lock: 2_000, acquire: 2_000 };
/** The longest a request may wait on the database: a pooled connection, then a statement. */
const REQUEST_BOUND_MS = BOUNDS_MS.acquire + BOUNDS_MS.statement;
/** Two cores shared with other work: the margin is for the machine, not for the service. */
const MARGIN_MS = 5_000;
/** How long each trouble lasts (the lock: longer than every bound). */
const TROUBLE_MS = 4_000;
const LOCK_HELD_MS = BOUNDS_MS.statement + BOUNDS_MS.lock + 1_000;

const SERVICE_ENV = {
  DATABASE_POOL_SIZE: '4',
  DATABASE_STATEMENT_TIMEOUT: `${BOUNDS_MS.statement / 1000}s`,
  DATABASE_LOCK_TIMEOUT: `${BOUNDS_MS.lock / 1000}s`,
  DATABASE_ACQUIRE_TIMEOUT: `${BOUNDS_MS.acquire / 1000}s`,
  KEY_ENCRYPTION_SECRET: 'fault-test-secret-0123456789abcdef0123456789',
  RATE_LIMIT_PER_MINUTE: '1000000',
  MAX_SESSIONS_PER_USER: '100000', // the signin loop must not end the session the `me` loop uses
  LOG_LEVEL: 'info',
};

type Op = 'signup' | 'signin' | 'me';
const OPS: Op[] = ['signup', 'signin', 'me'];

interface Instance {
  name: string;
  service: ServiceProcess;
  client: Client;
  /** An account of this instance's loops: signed in again and again, its token reads /users/me. */
  seed: { email: string; token: string };
}

interface Entry {
  instance: string;
  op: Op;
  /** The phase when the request started, and when it ended. */
  phase: Phase;
  endPhase: Phase;
  result: CallResult;
  email?: string;
}

type Phase = 'before' | 'trouble' | 'after';

interface Trouble {
  name: string;
  /** The classes of gatehouse_database_unavailable_total the trouble must show up as (any of them). */
  classes: string[];
  /** How long it lasts once injected (at least). */
  lastsMs: number;
  /**
   * Over by itself, before any repair (a crashed server process, restarted by
   * its postmaster): it may be too short to catch the instances not ready or
   * a request answered 503; the rest (no 500, bounds, recovery, nothing lost) holds.
   */
  passing?: boolean;
  inject(): Promise<void>;
  repair(): Promise<void>;
}

/** One line of the summary printed at the end. */
const summary: (string | number)[][] = [
  [
    'trouble',
    'requests',
    '503 in trouble',
    'other 5xx',
    'longest (ms)',
    'ready again (ms)',
    'all ops ok again (ms)',
    'acknowledged signups',
    'lost',
    'classes counted',
  ],
];

/** The instances' counts of gatehouse_database_unavailable_total, by class, summed. */
async function unavailableCounts(instances: Instance[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const instance of instances) {
    const metrics = await instance.client.get('/metrics');
    const text = typeof metrics.body === 'string' ? metrics.body : '';
    for (const match of text.matchAll(/^gatehouse_database_unavailable_total\{class="(\w+)"\} (\d+)/gm)) {
      counts.set(match[1]!, (counts.get(match[1]!) ?? 0) + Number(match[2]));
    }
  }
  return counts;
}

/**
 * Two service processes on one database, each with an account for its loops.
 * Started one after the other: two starts at once on a busy machine only
 * test the machine.
 */
async function startInstances(database: Record<string, string>, names = ['A', 'B']): Promise<Instance[]> {
  const instances: Instance[] = [];
  for (const name of names) {
    const service = new ServiceProcess(await freePort(), { ...SERVICE_ENV, ...database });
    await service.waitFor('/health/ready', 90_000);
    const client = new Client(service.baseUrl);
    const email = uniqueEmail(`trouble-seed-${name}`);
    const signup = await client.post('/auth/signup', { email, password: PASSWORD });
    expect(signup.status, outcome(signup)).toBe(201);
    instances.push({ name, service, client, seed: { email, token: signup.body.accessToken as string } });
  }
  return instances;
}

/** Every signup of `emails` present in the database (read as a superuser). */
async function storedEmails(adminUrl: string, emails: string[]): Promise<Set<string>> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ email: string }>(
      'select email from users where email = any($1::text[])',
      [emails],
    );
    return new Set(rows.map((row) => row.email));
  } finally {
    await client.end();
  }
}

/**
 * Runs signups, signins and GET /users/me on both instances (two loops each)
 * before, during and after `trouble`, and checks what every request got.
 * `adminUrl`: a superuser's connection to the service's database.
 */
async function undergo(instances: Instance[], trouble: Trouble, adminUrl: string): Promise<void> {
  const countsBefore = await unavailableCounts(instances);
  let phase: Phase = 'before';
  const records: Entry[] = [];
  const load = new Load(
    instances.length * 2,
    async (worker, iteration) => {
      const instance = instances[worker % instances.length]!;
      const op = OPS[(Math.floor(worker / instances.length) + iteration) % OPS.length]!;
      const started = phase;
      let result: CallResult;
      let email: string | undefined;
      if (op === 'signup') {
        email = uniqueEmail(`trouble-${instance.name}`);
        result = await instance.client.post('/auth/signup', { email, password: PASSWORD });
      } else if (op === 'signin') {
        result = await instance.client.post('/auth/signin', {
          email: instance.seed.email,
          password: PASSWORD,
        });
      } else {
        result = await instance.client.get('/users/me', instance.seed.token);
      }
      records.push({ instance: instance.name, op, phase: started, endPhase: phase, result, email });
    },
    50,
  );
  const ok = (entry: Entry) => entry.result.status >= 200 && entry.result.status < 300;
  const readiness = () => Promise.all(instances.map((instance) => instance.client.get('/health/ready')));
  const readinessSeen: string[] = [];

  let readyBackMs: number;
  let allOpsBackMs: number;
  try {
    await until(
      () => records.filter((r) => r.phase === 'before' && ok(r)).length >= 6,
      30_000,
      `${trouble.name}: successes before the trouble`,
    );

    // Requests from here on meet the trouble, or its beginning (a restart's stop takes a moment).
    phase = 'trouble';
    await trouble.inject();
    const troubleAt = performance.now();
    // Readiness goes down on both instances (it runs a real, bounded query)…
    if (!trouble.passing) {
      await until(
        async () => (await readiness()).every((ready) => ready.status === 503),
        10_000,
        `${trouble.name}: both instances not ready`,
      );
    }
    await until(
      () =>
        performance.now() - troubleAt >= trouble.lastsMs &&
        instances.every(
          (instance) =>
            records.filter(
              (r) => r.instance === instance.name && r.phase === 'trouble' && r.endPhase === 'trouble',
            ).length >= 3,
        ),
      trouble.lastsMs + 30_000,
      `${trouble.name}: requests answered during the trouble`,
    );
    // …and stays down while the trouble lasts.
    if (!trouble.passing) for (const ready of await readiness()) readinessSeen.push(outcome(ready));

    await trouble.repair();
    phase = 'after';
    const backAt = performance.now();
    readyBackMs = await until(
      async () => (await readiness()).every((ready) => ready.status === 200),
      30_000,
      `${trouble.name}: both instances ready again`,
      50,
    );
    allOpsBackMs = await until(
      () =>
        instances.every((instance) =>
          OPS.every((op) =>
            records.some(
              (r) => r.instance === instance.name && r.op === op && r.result.startedAt >= backAt && ok(r),
            ),
          ),
        ),
      30_000,
      `${trouble.name}: every operation succeeding again on both instances`,
    );
  } finally {
    await load.stop();
  }

  const tally = new Tally();
  for (const record of records) {
    const phases = record.phase === record.endPhase ? record.phase : `${record.phase}→${record.endPhase}`;
    tally.add(`${phases} ${record.instance} ${record.op}`, outcome(record.result));
  }
  console.log(
    tally.format(
      `${trouble.name} — ${records.length} requests on ${instances.length} instance(s), outcomes by phase:`,
    ),
  );

  // Acknowledged signups are all there; a refused one may or may not be (its answer never came back).
  const signups = records.filter((r) => r.op === 'signup');
  const acknowledged = signups.filter((r) => r.result.status === 201).map((r) => r.email!);
  const stored = await storedEmails(adminUrl, acknowledged);
  const lost = acknowledged.filter((email) => !stored.has(email));

  const countsAfter = await unavailableCounts(instances);
  const counted = [...countsAfter]
    .map(([name, count]) => [name, count - (countsBefore.get(name) ?? 0)] as const)
    .filter(([, delta]) => delta > 0);
  const longest = Math.max(...records.map((r) => r.result.endedAt - r.result.startedAt));
  const during = records.filter((r) => r.phase === 'trouble' && r.endPhase === 'trouble');
  const otherServerErrors = records.filter((r) => r.result.status >= 500 && r.result.status !== 503);
  summary.push([
    trouble.name,
    records.length,
    during.filter((r) => r.result.status === 503).length,
    otherServerErrors.length,
    Math.round(longest),
    Math.round(readyBackMs),
    Math.round(allOpsBackMs),
    acknowledged.length,
    lost.length,
    counted.map(([name, delta]) => `${name} ${delta}`).join(', '),
  ]);

  // Never a 500, never a dropped connection; a 503 is the contract's `unavailable`, with Retry-After.
  expect(otherServerErrors.map((r) => `${r.phase} ${r.instance} ${r.op} ${outcome(r.result)}`)).toEqual([]);
  expect(records.filter((r) => r.result.status === 0).map((r) => `${r.op} ${outcome(r.result)}`)).toEqual([]);
  for (const record of records.filter((r) => r.result.status === 503)) {
    expect(record.result.body).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      code: 'unavailable',
      message: expect.any(String),
    });
  }
  // During the trouble: a success or 503, nothing else (no 401 from a session lookup that failed).
  expect(
    during
      .filter((r) => !ok(r) && outcome(r.result) !== '503 unavailable')
      .map((r) => `${r.op} ${outcome(r.result)}`),
  ).toEqual([]);
  if (!trouble.passing) expect(during.filter((r) => r.result.status === 503).length).toBeGreaterThan(0);
  // Bounded: no request waited on the database longer than the bounds allow.
  expect(longest).toBeLessThan(REQUEST_BOUND_MS + MARGIN_MS);
  // Not ready while it lasted; ready again, and serving, by itself.
  if (!trouble.passing) expect(readinessSeen).toEqual(instances.map(() => '503 unavailable'));
  expect(readyBackMs).toBeLessThan(15_000);
  expect(allOpsBackMs).toBeLessThan(15_000);
  for (const instance of instances) {
    expect(instance.service.hasExited).toBe(false);
    expect(instance.service.stdout).not.toMatch(/"statusCode":500/);
  }
  // Counted as what it was (and nothing else, when it passed by itself).
  if (trouble.passing) {
    expect(counted.map(([name]) => name).filter((name) => !trouble.classes.includes(name))).toEqual([]);
  } else {
    expect(counted.map(([name]) => name).filter((name) => trouble.classes.includes(name))).not.toEqual([]);
  }
  // Nothing acknowledged was lost.
  expect(acknowledged.length).toBeGreaterThan(0);
  expect(lost).toEqual([]);
}

afterAll(() => {
  console.log(`database trouble, two instances under load:\n${table(summary)}`);
});

/** `users` locked (ACCESS EXCLUSIVE) by another session — a long migration, a stuck transaction — until repaired. */
function usersLocked(name: string, adminUrl: string): Trouble & { abandon(): Promise<void> } {
  let holder: pg.Client | undefined;
  return {
    name,
    classes: ['lock_timeout', 'statement_timeout'],
    lastsMs: LOCK_HELD_MS,
    inject: async () => {
      holder = new pg.Client({ connectionString: adminUrl });
      await holder.connect();
      await holder.query('begin; lock table users in access exclusive mode');
    },
    repair: async () => {
      await holder!.query('rollback');
      await holder!.end();
      holder = undefined;
    },
    abandon: async () => {
      await holder?.end().catch(() => {});
    },
  };
}

/** Ends every session of `database` but the caller's: new connections must be made under the new rules. */
const TERMINATE_OTHERS = (database: string) =>
  `select pg_terminate_backend(pid) from pg_stat_activity where datname = '${database}' and pid <> pg_backend_pid()`;

describe.skipIf(!inject('postgresAvailable'))(
  'fault: database trouble on a database of its own, two instances under load',
  () => {
    const suffix = randomBytes(5).toString('hex');
    const role = `gatehouse_fault_${suffix}`;
    const database = `gatehouse_fault_${suffix}`;
    /** A superuser on the server's maintenance database (for ALTER DATABASE … and terminations). */
    const maintenance = withDatabase(POSTGRES_URL, 'postgres');
    /** A superuser on the service's database (for locks and the final count). */
    const adminUrl = withDatabase(POSTGRES_URL, database);
    let instances: Instance[] = [];

    beforeAll(async () => {
      // The service connects as a role of its own (so that its connections can be limited), owner of its database.
      await adminQuery(maintenance, `create role ${role} login`);
      await adminQuery(maintenance, `create database ${database} owner ${role}`);
      const serviceUrl = new URL(withDatabase(POSTGRES_URL, database));
      serviceUrl.username = role;
      serviceUrl.password = '';
      instances = await startInstances({ DATABASE_URL: serviceUrl.toString() });
    }, 180_000);

    afterAll(async () => {
      await killAll();
      await adminQuery(maintenance, `drop database if exists ${database} with (force)`).catch(() => {});
      await adminQuery(maintenance, `drop role if exists ${role}`).catch(() => {});
    });

    it('refused connections (ALLOW_CONNECTIONS false, sessions ended): 503, then recovery', async () => {
      await undergo(
        instances,
        {
          name: 'refused connections',
          classes: ['not_accepting'],
          lastsMs: TROUBLE_MS,
          inject: async () => {
            await adminQuery(maintenance, `alter database ${database} allow_connections false`);
            await adminQuery(maintenance, TERMINATE_OTHERS(database));
          },
          repair: () => adminQuery(maintenance, `alter database ${database} allow_connections true`),
        },
        adminUrl,
      );
    }, 120_000);

    it('read-only (as on a replica after a failover): 503, then writes recover on the old connections’ pools', async () => {
      await undergo(
        instances,
        {
          name: 'read-only',
          classes: ['read_only'],
          lastsMs: TROUBLE_MS,
          inject: async () => {
            await adminQuery(
              maintenance,
              `alter database ${database} set default_transaction_read_only = on`,
            );
            await adminQuery(maintenance, TERMINATE_OTHERS(database));
          },
          // Sessions opened meanwhile stay read-only (as connections to the old server do): the
          // pools must drop them on their own, without a restart.
          repair: () =>
            adminQuery(maintenance, `alter database ${database} reset default_transaction_read_only`),
        },
        adminUrl,
      );
    }, 120_000);

    it('users locked (ACCESS EXCLUSIVE) longer than every bound: 503 within the lock timeout, then recovery', async () => {
      const locked = usersLocked('users locked', adminUrl);
      try {
        await undergo(instances, locked, adminUrl);
      } finally {
        await locked.abandon();
      }
    }, 120_000);

    it('too many connections (the role at its CONNECTION LIMIT): 503, then recovery', async () => {
      let hog: pg.Client | undefined;
      const serviceUrl = new URL(adminUrl);
      serviceUrl.username = role;
      try {
        await undergo(
          instances,
          {
            name: 'too many connections',
            classes: ['resources'],
            lastsMs: TROUBLE_MS,
            inject: async () => {
              // Another client of the role takes its one connection; the service's are ended and refused.
              hog = new pg.Client({ connectionString: serviceUrl.toString() });
              await hog.connect();
              const { rows } = await hog.query<{ pid: number }>('select pg_backend_pid() as pid');
              await adminQuery(maintenance, `alter role ${role} connection limit 1`);
              await adminQuery(
                maintenance,
                `select pg_terminate_backend(pid) from pg_stat_activity where usename = '${role}' and pid <> ${rows[0]!.pid}`,
              );
            },
            repair: async () => {
              await adminQuery(maintenance, `alter role ${role} connection limit -1`);
              await hog!.end();
              hog = undefined;
            },
          },
          adminUrl,
        );
      } finally {
        await hog?.end().catch(() => {});
      }
    }, 120_000);
  },
);

describe('fault: a PostgreSQL restart under load, two instances (private server)', () => {
  let server: PrivatePostgres | undefined;
  let unavailable: string | undefined;
  let instances: Instance[] = [];

  beforeAll(async () => {
    const created = serverOrSkip(await PrivatePostgres.create(), 'PostgreSQL restart, two instances');
    if ('skipped' in created) {
      unavailable = created.skipped;
      return;
    }
    server = created.server;
    instances = await startInstances({ DATABASE_URL: server.url });
  }, 180_000);

  afterAll(async () => {
    await killAll();
    await server?.destroy();
  });

  it('restart (pg_ctl stop -m fast, start; 57P01, 57P03): 503 meanwhile, then recovery', async (ctx) => {
    if (!server) return ctx.skip(unavailable);
    const restarting = server;
    await undergo(
      instances,
      {
        name: 'restart',
        classes: ['shutdown', 'connection'],
        lastsMs: 0, // as long as the restart takes: the server is started again at once
        inject: () => restarting.stop('fast'),
        repair: () => restarting.start(),
      },
      restarting.url,
    );
  }, 120_000);
});

/**
 * The embedded server where such trouble can happen to it: a lock held by
 * another of its clients (the command line, an operator's psql on its
 * socket), and a crash of one of its server processes (the out-of-memory
 * killer's usual pick), after which its postmaster ends every session
 * (57P02), recovers (57P03 meanwhile) and serves again. One instance: a
 * DATA_DIR has one.
 */
describe('fault: database trouble on the embedded server, one instance under load', () => {
  let dataDir: string;
  let adminUrl: string;
  let instances: Instance[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-fault-trouble-'));
    instances = await startInstances({ DATA_DIR: dataDir }, ['embedded']);
    // A client of its server over its socket (the service's own database, `postgres`).
    adminUrl = runningServerUrl(join(dataDir, 'pg'))!;
  }, 180_000);

  afterAll(async () => {
    // Stopped, not killed: its server stops with it.
    for (const instance of instances) await instance.service.stop('SIGTERM').catch(() => {});
    await killAll();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('users locked longer than every bound: 503 within the lock timeout, then recovery', async () => {
    const locked = usersLocked('users locked (embedded)', adminUrl);
    try {
      await undergo(instances, locked, adminUrl);
    } finally {
      await locked.abandon();
    }
  }, 120_000);

  it('a server process crashes (57P02, then 57P03 while it recovers): no 500, recovery by itself', async () => {
    const postmaster = () => readFileSync(join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0];
    const before = postmaster();
    let killed: number | undefined;
    await undergo(
      instances,
      {
        name: 'server process crash (embedded)',
        classes: ['shutdown', 'connection'],
        lastsMs: TROUBLE_MS,
        passing: true,
        inject: async () => {
          const client = new pg.Client({ connectionString: adminUrl });
          await client.connect();
          const { rows } = await client
            .query<{ pid: number }>(
              "select pid from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid() limit 1",
            )
            .finally(() => client.end());
          killed = rows[0]!.pid;
          process.kill(killed, 'SIGKILL');
        },
        repair: async () => {}, // its postmaster restarts its processes by itself
      },
      adminUrl,
    );
    // It did crash, and the same postmaster recovered: nothing was started again.
    expect(readFileSync(join(dataDir, 'postgres.log'), 'utf8')).toContain(
      `backend (PID ${killed}) was terminated by signal 9`,
    );
    expect(postmaster()).toBe(before);
  }, 120_000);

  it('after all that, SIGTERM still ends the service (exit 0, within the drain bound) and its server', async () => {
    // A connection lost under a request must not be held for ever: the pool's end (and the exit) would wait on it.
    const pid = Number(readFileSync(join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
    const started = performance.now();
    expect(await instances[0]!.service.stop('SIGTERM', 30_000)).toEqual({ code: 0, signal: null });
    expect(performance.now() - started).toBeLessThan(10_000);
    await until(
      () => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      },
      10_000,
      'the embedded server stopped',
    );
  }, 60_000);
});
