import type { AppConfig } from '../../src/config/app-config.js';
import { randomBytes } from 'node:crypto';
import { openPostgres } from '../../src/database/database.connection.js';
import type { DatabaseConnection } from '../../src/database/database.types.js';

/**
 * The PostgreSQL and Redis servers the server-backed tests use: the
 * developers' machines and CI run them on 127.0.0.1; elsewhere those tests
 * are skipped with a message saying how to run them.
 */
export const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** True when the suite's test databases are to live on the PostgreSQL server instead of the embedded one. */
export const E2E_ON_POSTGRES = process.env.GATEHOUSE_TEST_DATABASE === 'postgres';

/** The same server (and socket), another database. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function admin<T>(work: (client: import('pg').Client) => Promise<T>, url = POSTGRES_URL): Promise<T> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** One statement on a server's maintenance database (`create database`, `drop database`). */
export async function adminQuery(serverUrl: string, statement: string): Promise<void> {
  await admin((client) => client.query(statement), serverUrl);
}

export async function postgresReachable(): Promise<boolean> {
  try {
    await admin((client) => client.query('select 1'));
    return true;
  } catch {
    return false;
  }
}

export async function redisReachable(): Promise<boolean> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 2_000, maxRetriesPerRequest: 0 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
    return true;
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/**
 * A new database with a random name on a server (by default the PostgreSQL
 * server), empty or a copy of `template`; `drop()` removes it.
 */
export async function createPostgresDatabase(
  options: { serverUrl?: string; template?: string } = {},
): Promise<{ url: string; drop: () => Promise<void> }> {
  const serverUrl = options.serverUrl ?? POSTGRES_URL;
  const name = `gatehouse_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(
    serverUrl,
    // FILE_COPY: a third of WAL_LOG's time for a small template on the throw-away embedded server.
    `create database ${name}${options.template ? ` template ${options.template} strategy file_copy` : ''}`,
  );
  return {
    url: withDatabase(serverUrl, name),
    drop: () => adminQuery(serverUrl, `drop database if exists ${name} with (force)`),
  };
}

/**
 * Bounds for test apps' database time: far above production's (5 s / 2 s / 2 s), because the suite must
 * pass on a machine whose cores are busy (50 concurrent refreshes of one session queue on its row lock
 * and on a pool of 5). The production bounds themselves are tested in database/database-trouble.
 */
export const TEST_DATABASE_TIMEOUTS = { statement: 60, lock: 30, acquire: 30 } as const;

/** A copy of the migrated template on the run's test server, opened as the service opens it; dropped on close. */
export async function freshTestDatabase(
  serverUrl: string,
  template: string,
  timeouts: AppConfig['database']['timeouts'] = TEST_DATABASE_TIMEOUTS,
): Promise<DatabaseConnection & { url: string }> {
  const database = await createPostgresDatabase({ serverUrl, template });
  const connection = await openPostgres(database.url, 5, timeouts);
  return {
    ...connection,
    url: database.url,
    close: async () => {
      await connection.close();
      await database.drop();
    },
  };
}
