import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './settings.js';

/**
 * Bulk seeding of the `users` table, straight into the database (never the
 * API): INSERT … SELECT over generate_series, in batches.
 *
 * Seeded row i (1-based) is fully determined by the run's tag: created_at is
 * `base + i` milliseconds (so a larger i is newer) and the id a UUIDv7 whose
 * random bits come from md5(tag || i). The bench can therefore name the
 * position of any row — for a deep pagination cursor — without a query.
 */
export interface SeedPlan {
  /** Distinguishes this run's rows (and emails) from any other's. */
  tag: string;
  /** Email domain of every user the bench creates, seeded or signed up. */
  domain: string;
  /** created_at of row 0, in ms since the epoch. */
  baseMs: number;
  /** An argon2id PHC string every seeded row gets. */
  passwordHash: string;
}

export interface Position {
  createdAt: Date;
  id: string;
}

const BATCH = 100_000;

const INSERT_SQL = `
INSERT INTO users (id, email, password_hash, roles, created_at, updated_at)
SELECT
  (lpad(to_hex($1::bigint + i), 12, '0') || '7' || substr(h, 1, 3)
    || substr('89ab', (i % 4)::int + 1, 1) || substr(h, 4, 15))::uuid,
  'seed-' || i || '@' || $3::text,
  $4::text,
  '{user}',
  timestamptz 'epoch' + ($1::bigint + i) * interval '1 millisecond',
  timestamptz 'epoch' + ($1::bigint + i) * interval '1 millisecond'
FROM (SELECT i, md5($2::text || i::text) AS h FROM generate_series($5::int, $6::int) AS i) AS s`;

/** The position (created_at, id) of seeded row i: what the SQL above produces. */
export function seededPosition(plan: SeedPlan, i: number): Position {
  const h = createHash('md5').update(`${plan.tag}${i}`).digest('hex');
  const hex =
    (plan.baseMs + i).toString(16).padStart(12, '0') + '7' + h.slice(0, 3) + '89ab'[i % 4]! + h.slice(3, 18);
  const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { createdAt: new Date(plan.baseMs + i), id };
}

interface Queryable {
  query(text: string, params?: unknown[]): Promise<{ rows: any[] }>;
}

export interface UsersTable {
  count(): Promise<number>;
  /** Seeds rows from..to (inclusive); returns the seconds it took. */
  seed(plan: SeedPlan, from: number, to: number): Promise<number>;
  close(): Promise<void>;
  readonly db: Queryable;
}

/**
 * `analyze`: refresh the planner's statistics after seeding, as autovacuum
 * soon would on a PostgreSQL server whose table grew.
 */
function tableOver(db: Queryable, close: () => Promise<void>, analyze: boolean): UsersTable {
  return {
    db,
    close,
    async count() {
      const result = await db.query('SELECT count(*)::int AS n FROM users');
      return Number(result.rows[0].n);
    },
    async seed(plan, from, to) {
      const started = performance.now();
      for (let start = from; start <= to; start += BATCH) {
        const end = Math.min(to, start + BATCH - 1);
        await db.query(INSERT_SQL, [plan.baseMs, plan.tag, plan.domain, plan.passwordHash, start, end]);
      }
      if (analyze) await db.query('ANALYZE users');
      return (performance.now() - started) / 1000;
    },
  };
}

/**
 * Starts the embedded database of a stopped service with the service's own
 * built code (dist/): its lock, so that a service started by mistake refuses
 * the directory, and its server in DATA_DIR/pg.
 */
export async function openEmbeddedUsers(dataDir: string): Promise<UsersTable> {
  const dist = (path: string) => import(pathToFileURL(join(ROOT, 'dist', 'database', path)).href);
  const { DataDirLock } = (await dist('data-dir-lock.js')) as {
    DataDirLock: { acquire(dir: string): { release(): void } };
  };
  const { startEmbeddedPostgres } = (await dist('embedded-postgres.js')) as {
    startEmbeddedPostgres: (options: {
      directory: string;
    }) => Promise<{ url: string; stop(): Promise<void> }>;
  };
  const lock = DataDirLock.acquire(dataDir);
  try {
    const server = await startEmbeddedPostgres({ directory: join(dataDir, 'pg') });
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    return tableOver(
      client,
      async () => {
        await client.end();
        await server.stop();
        lock.release();
      },
      true,
    );
  } catch (error) {
    lock.release();
    throw error;
  }
}

export async function openPostgresUsers(url: string): Promise<UsersTable> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  return tableOver(client, () => client.end(), true);
}

/**
 * Removes what a run created on a PostgreSQL database it was given: its users
 * (their sessions and refresh tokens go with them), their audit events, and
 * signing keys that did not exist before the run.
 */
export async function cleanPostgres(
  url: string,
  domain: string,
  keysBefore: string[] | undefined,
): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const pattern = `%@${domain}`;
    await client.query('BEGIN');
    // Seeded rows have no sessions or events: when allowed (superuser), delete them
    // without firing a trigger per row (foreign-key checks, change notifications).
    await client.query('SAVEPOINT fast');
    try {
      await client.query('SET LOCAL session_replication_role = replica');
      await client.query("DELETE FROM users WHERE lower(email) LIKE 'seed-%' AND lower(email) LIKE $1", [
        pattern,
      ]);
      await client.query('SET LOCAL session_replication_role = origin');
      await client.query('RELEASE SAVEPOINT fast');
    } catch {
      await client.query('ROLLBACK TO SAVEPOINT fast');
    }
    await client.query(
      'DELETE FROM audit_events WHERE user_id IN (SELECT id FROM users WHERE lower(email) LIKE $1) OR actor_id IN (SELECT id FROM users WHERE lower(email) LIKE $1)',
      [pattern],
    );
    await client.query('DELETE FROM users WHERE lower(email) LIKE $1', [pattern]);
    if (keysBefore)
      await client.query('DELETE FROM signing_keys WHERE NOT (kid = ANY($1::text[]))', [keysBefore]);
    await client.query('COMMIT');
    // Give the space of the deleted rows back now rather than at the next autovacuum,
    // so that the next run does not scan them.
    await client.query('VACUUM (ANALYZE) users').catch(() => {});
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    await client.end();
  }
}

/** The kids in signing_keys now, or undefined when the table does not exist yet. */
export async function signingKeyIds(url: string): Promise<string[] | undefined> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const exists = await client.query("SELECT to_regclass('public.signing_keys') AS t");
    if (!exists.rows[0].t) return [];
    const result = await client.query('SELECT kid FROM signing_keys');
    return result.rows.map((row: { kid: string }) => row.kid);
  } finally {
    await client.end();
  }
}
