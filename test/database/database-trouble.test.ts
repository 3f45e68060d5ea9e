import { DEFAULT_DATABASE_TIMEOUTS } from '../../src/config/config.schema.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/database/database.connection.js';
import { DatabasePool } from '../../src/database/database-pool.js';
import type { DatabaseConnection } from '../../src/database/database.types.js';
import { classifyDatabaseError } from '../../src/database/postgres-errors.js';
import { TRANSACTION_ATTEMPTS } from '../../src/database/transaction-retry.js';
import { toErrorResponse } from '../../src/common/errors/error-body.js';
import { expectError, GOOD_PASSWORD, uniqueEmail } from '../support/http.js';
import { withDatabase } from '../support/services.js';
import { postgresTarget, TcpProxy, viaProxy } from '../support/tcp-proxy.js';
import { freshDatabase, useTestApp } from '../support/test-app.js';

/**
 * Database trouble that is not a stopped server, on the run's test server
 * (the embedded one, or PostgreSQL): real errors from a real server, the
 * pool's hygiene, and a lock on `users` seen through HTTP. The slow
 * scenarios (refused connections, read-only, too many connections, a
 * restart under load, two instances) are fault scripts: test/faults/.
 */

const BOUNDS = { statementMs: 5_000, lockMs: 2_000, acquireMs: 2_000 };

/** A second session on the same database (as an operator's psql, a migration, another instance). */
async function session(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

async function backendPid(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ pid: number }>('select pg_backend_pid() as pid');
  return rows[0]!.pid;
}

describe('the pool: real errors, bounds and hygiene', () => {
  let database: DatabaseConnection & { url: string };
  const pools: DatabasePool[] = [];
  const newPool = (size: number, bounds = BOUNDS) => {
    const pool = new DatabasePool(database.url, size, bounds);
    pools.push(pool);
    return pool;
  };

  beforeAll(async () => {
    database = await freshDatabase();
  });
  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.end().catch(() => {})));
    await database?.close();
  });

  it('sets the statement and lock timeouts on every pooled connection', async () => {
    const pool = newPool(1, { statementMs: 4_000, lockMs: 1_500, acquireMs: 2_000 });
    const { rows } = await pool.query<{ statement: string; lock: string }>(
      "select current_setting('statement_timeout') as statement, current_setting('lock_timeout') as lock",
    );
    expect(rows[0]).toEqual({ statement: '4s', lock: '1500ms' });
  });

  it('a statement past the timeout fails as statement_timeout (57014); the connection of its transaction stays', async () => {
    const pool = newPool(1, { ...BOUNDS, statementMs: 200 });
    const pid = await backendPid(pool);
    const error = await drizzle({ client: pool })
      .transaction((tx) => tx.execute(sql`select pg_sleep(5)`))
      .catch((caught: unknown) => caught);
    expect(classifyDatabaseError(error)).toEqual({ class: 'statement_timeout', sqlstate: '57014' });
    expect(await backendPid(pool)).toBe(pid);
  });

  it('a lock not granted in time fails as lock_timeout (55P03) through Drizzle', async () => {
    const pool = newPool(1, { ...BOUNDS, lockMs: 200 });
    const holder = await session(database.url);
    try {
      await holder.query('begin; lock table users in access exclusive mode');
      const error = await drizzle({ client: pool })
        .transaction((tx) => tx.execute(sql`select count(*) from users`))
        .catch((caught: unknown) => caught);
      expect(classifyDatabaseError(error)).toEqual({ class: 'lock_timeout', sqlstate: '55P03' });
    } finally {
      await holder.end();
    }
  });

  it('discards a connection that turned read-only (25006) after its failed transaction, so the next write works', async () => {
    const pool = newPool(1);
    const db = drizzle({ client: pool });
    // The only connection now behaves like one to a replica after a failover.
    await pool.query('set default_transaction_read_only = on');
    const replicaPid = await backendPid(pool);
    const write = () =>
      db.transaction((tx) =>
        tx.execute(
          sql`insert into users (id, email, password_hash) values (gen_random_uuid(), ${uniqueEmail('ro')}, 'x')`,
        ),
      );
    const error = await write().catch((caught: unknown) => caught);
    expect(classifyDatabaseError(error)).toEqual({ class: 'read_only', sqlstate: '25006' });
    await write(); // a fresh connection: writable
    expect(await backendPid(pool)).not.toBe(replicaPid);
  });

  it('a transaction whose begin fails on a stalled connection gives the connection back: the pool keeps its size, and ends', async () => {
    // Drizzle sends `begin` before its try/finally: a connection on which it fails is never released.
    const proxy = await TcpProxy.start(postgresTarget(database.url));
    const pool = new DatabasePool(viaProxy(database.url, proxy.port), 1, { ...BOUNDS, statementMs: 300 });
    try {
      const db = drizzle({ client: pool });
      await pool.query('select 1'); // the pool's one connection, idle
      expect(proxy.freeze()).toBe(1); // it goes silent (a NAT forgot it, the server froze); new ones work
      const error = await db
        .transaction((tx) => tx.execute(sql`select 1`))
        .catch((caught: unknown) => caught);
      expect(classifyDatabaseError(error)).toEqual({ class: 'connection' });
      // The stalled connection left the pool: the next transaction gets a new one, not an acquire timeout.
      await db.transaction((tx) => tx.execute(sql`select 1`));
      expect(pool.totalCount).toBe(1);
    } finally {
      // With a connection never given back, the pool's end would wait for ever (and the service's shutdown with it).
      const ended = await Promise.race([
        pool.end().then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), 10_000)),
      ]);
      await proxy.down();
      expect(ended).toBe(true);
    }
  });

  it('discards a connection given back in the middle of a transaction', async () => {
    const pool = newPool(1);
    const client = await pool.connect();
    const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
    await client.query('begin');
    client.release();
    expect(await backendPid(pool)).not.toBe(rows[0]!.pid);
  });

  it('keeps a connection whose transaction failed on a constraint', async () => {
    const pool = newPool(1);
    const db = drizzle({ client: pool });
    const pid = await backendPid(pool);
    const email = uniqueEmail('dup');
    const insert = () =>
      db.transaction((tx) =>
        tx.execute(
          sql`insert into users (id, email, password_hash) values (gen_random_uuid(), ${email}, 'x')`,
        ),
      );
    await insert();
    const error = await insert().catch((caught: unknown) => caught);
    expect(classifyDatabaseError(error)).toBeUndefined();
    expect(await backendPid(pool)).toBe(pid);
  });

  it('the probe fails on a read-only connection, which leaves the pool', async () => {
    const pool = newPool(1);
    await pool.probe(1_000);
    await pool.query('set default_transaction_read_only = on');
    const replicaPid = await backendPid(pool);
    const error = await pool.probe(1_000).catch((caught: unknown) => caught);
    expect(classifyDatabaseError(error)).toEqual({ class: 'read_only', sqlstate: '25006' });
    expect(await backendPid(pool)).not.toBe(replicaPid);
    await pool.probe(1_000);
  });

  it('a database that refuses connections fails as not_accepting (55000 at connect), then serves again', async () => {
    const name = new URL(database.url).pathname.slice(1);
    const admin = await session(withDatabase(database.url, 'postgres')); // not the database it closes
    const pool = newPool(2);
    try {
      await admin.query(`alter database ${name} allow_connections false`);
      const error = await pool.query('select 1').catch((caught: unknown) => caught);
      expect(classifyDatabaseError(error)).toEqual({ class: 'not_accepting', sqlstate: '55000' });
      const probe = await pool.probe(1_000).catch((caught: unknown) => caught);
      expect(classifyDatabaseError(probe)).toEqual({ class: 'not_accepting', sqlstate: '55000' });
    } finally {
      await admin.query(`alter database ${name} allow_connections true`);
      await admin.end();
    }
    await pool.probe(1_000);
  });
});

describe('transactions retried on a serialization failure or a deadlock', () => {
  let database: DatabaseConnection & { url: string };
  beforeAll(async () => {
    database = await freshDatabase();
  });
  afterAll(async () => {
    await database?.close();
  });

  const newUser = async (): Promise<string> => {
    const result: unknown = await database.db.execute(
      sql`insert into users (id, email, password_hash) values (gen_random_uuid(), ${uniqueEmail('retry')}, 'x') returning id`,
    );
    return (result as { rows: { id: string }[] }).rows[0]!.id;
  };
  const hashOf = async (id: string): Promise<string> => {
    const result: unknown = await database.db.execute(sql`select password_hash from users where id = ${id}`);
    return (result as { rows: { password_hash: string }[] }).rows[0]!.password_hash;
  };

  it('a real deadlock: the transaction the server chose as victim runs again, and both commit once', async () => {
    const [first, second] = [await newUser(), await newUser()];
    const retriesBefore = database.transactionRetries();
    const signal = () => {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => (resolve = done));
      return { promise, resolve };
    };
    const locked = { a: signal(), b: signal() };
    const committed = { a: signal(), b: signal() };
    const runs = { a: 0, b: 0 };
    // Each takes its first row, waits until the other holds its own, then wants the other's:
    // a cycle, which the server breaks after deadlock_timeout by failing one with 40P01.
    // The victim's second run waits for the winner's commit: started at once, it could take its
    // row again before the woken winner does (row locks wait on the transaction, not the row),
    // and a second deadlock would make the count depend on the machine's load.
    const crossing = (name: 'a' | 'b', mine: string, theirs: string, other: 'a' | 'b') =>
      database.db
        .transaction(async (tx) => {
          runs[name]++;
          if (runs[name] > 1) await committed[other].promise;
          await tx.execute(sql`update users set password_hash = password_hash || ${name} where id = ${mine}`);
          locked[name].resolve();
          await locked[other].promise;
          await tx.execute(
            sql`update users set password_hash = password_hash || ${name} where id = ${theirs}`,
          );
        })
        .then(() => committed[name].resolve());
    await Promise.all([crossing('a', first, second, 'b'), crossing('b', second, first, 'a')]);
    expect([runs.a, runs.b].sort()).toEqual([1, 2]);
    expect(database.transactionRetries() - retriesBefore).toBe(1);
    // Each change applied once, in one order on both rows: the victim's first run left nothing.
    const winner = runs.a === 1 ? 'a' : 'b';
    const loser = winner === 'a' ? 'b' : 'a';
    expect(await hashOf(first)).toBe(`x${winner}${loser}`);
    expect(await hashOf(second)).toBe(`x${winner}${loser}`);
  });

  it.each(['40001', '40P01'])(
    'a transaction that fails with %s every time runs TRANSACTION_ATTEMPTS times, then answers 503 conflict',
    async (sqlstate) => {
      const retriesBefore = database.transactionRetries();
      let runs = 0;
      const error = await database.db
        .transaction(async (tx) => {
          runs++;
          await tx.execute(
            sql.raw(`do $$ begin raise exception 'conflict' using errcode = '${sqlstate}'; end $$`),
          );
        })
        .catch((caught: unknown) => caught);
      expect(runs).toBe(TRANSACTION_ATTEMPTS);
      expect(TRANSACTION_ATTEMPTS).toBe(3);
      expect(database.transactionRetries() - retriesBefore).toBe(TRANSACTION_ATTEMPTS - 1);
      expect(classifyDatabaseError(error)).toEqual({ class: 'conflict', sqlstate });
      const response = toErrorResponse(error, classifyDatabaseError);
      expect(response.body).toMatchObject({ statusCode: 503, code: 'unavailable' });
      expect(response.headers['Retry-After']).toBe('5');
    },
  );

  it('a savepoint is not retried on its own: the whole transaction is, the savepoint with it', async () => {
    let outer = 0;
    let inner = 0;
    const error = await database.db
      .transaction(async (tx) => {
        outer++;
        await tx.transaction(async (savepoint) => {
          inner++;
          await savepoint.execute(
            sql.raw(`do $$ begin raise exception 'conflict' using errcode = '40001'; end $$`),
          );
        });
      })
      .catch((caught: unknown) => caught);
    expect({ outer, inner }).toEqual({ outer: TRANSACTION_ATTEMPTS, inner: TRANSACTION_ATTEMPTS });
    expect(classifyDatabaseError(error)).toMatchObject({ class: 'conflict' });
  });

  it('any other error (a unique violation, 23505) runs the transaction once', async () => {
    const retriesBefore = database.transactionRetries();
    const email = uniqueEmail('once');
    let runs = 0;
    const insert = sql`insert into users (id, email, password_hash) values (gen_random_uuid(), ${email}, 'x')`;
    const error = await database.db
      .transaction(async (tx) => {
        runs++;
        await tx.execute(insert);
        await tx.execute(insert);
      })
      .catch((caught: unknown) => caught);
    expect(runs).toBe(1);
    expect(database.transactionRetries()).toBe(retriesBefore);
    expect((error as { cause?: { code?: string } }).cause?.code).toBe('23505');
    expect(classifyDatabaseError(error)).toBeUndefined();
  });
});

describe('the embedded database', () => {
  it('opens with the configured bounds on its connections, and passes the readiness probe', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-bounds-'));
    const connection = await openDatabase({
      dataDir,
      poolSize: 2,
      timeouts: { statement: 7, lock: 3, acquire: 2 },
    });
    try {
      expect(connection.embedded).toBe(true);
      const result: unknown = await connection.db.execute(
        sql`select current_setting('statement_timeout') as statement, current_setting('lock_timeout') as lock`,
      );
      expect((result as { rows: unknown[] }).rows[0]).toEqual({ statement: '7s', lock: '3s' });
      await connection.probe(1_000);
    } finally {
      await connection.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('a lock on users, through HTTP', () => {
  let database: DatabaseConnection & { url: string };
  const { t, http } = useTestApp({}, async () => {
    database = await freshDatabase(DEFAULT_DATABASE_TIMEOUTS); // production's bounds, under test here
    return { connection: database };
  });

  it('answers signup 503 unavailable within the lock timeout, is not ready meanwhile, and serves again after', async () => {
    await http.signup(); // the pool has connections and the app is warm
    const holder = await session(database.url);
    try {
      await holder.query('begin; lock table users in access exclusive mode');
      const email = uniqueEmail('locked');
      const started = performance.now();
      const signup = await http.post('/auth/signup', {
        body: { email, password: GOOD_PASSWORD },
        headers: { 'x-request-id': 'locked-signup' },
      });
      const tookMs = performance.now() - started;
      expectError(signup, 503, 'unavailable');
      expect(signup.headers['retry-after']).toBe('5');
      // The lock timeout (2 s) bounds it, not the holder (it waits for ever); a busy machine's margin.
      expect(tookMs).toBeLessThan(2_000 + 5_000);
      expectError(await http.get('/health/ready'), 503, 'unavailable');

      // One warning, with the class and SQLSTATE, and no value of the query (the email).
      const lines = t.logs.filter(
        (line) => line.requestId === 'locked-signup' && (line.level as number) >= 40,
      );
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 40, class: 'lock_timeout', sqlstate: '55P03' });
      expect(JSON.stringify(lines[0])).not.toContain(email);
      expect(JSON.stringify(lines[0])).not.toMatch(/\s+at /);
      const metrics = await http.get('/metrics');
      expect(metrics.text).toMatch(/gatehouse_database_unavailable_total\{class="lock_timeout"\} [1-9]/);
      expect(metrics.text).toMatch(/gatehouse_database_unavailable_total\{class="read_only"\} 0/);
      expect(metrics.text).toMatch(/^gatehouse_database_retries_total 0$/m); // a lock timeout is not retried
    } finally {
      await holder.end(); // the lock goes with the session
    }
    expect((await http.get('/health/ready')).status).toBe(200);
    await http.signup();
  });
});
