import { randomBytes } from 'node:crypto';
import { openDatabase } from '../../src/database/database.connection.js';
import type { DatabaseConnection } from '../../src/database/database.types.js';

/**
 * The PostgreSQL and Redis servers the server-backed tests use: the
 * developers' machines and CI run them on 127.0.0.1; elsewhere those tests
 * are skipped with a message saying how to run them.
 */
export const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** True when the end-to-end suite is asked to run on PostgreSQL instead of PGlite. */
export const E2E_ON_POSTGRES = process.env.GATEHOUSE_TEST_DATABASE === 'postgres';

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function admin<T>(work: (client: import('pg').Client) => Promise<T>): Promise<T> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 2_000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
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

/** A new, empty database on the PostgreSQL server, with a random name; `drop()` removes it. */
export async function createPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `gatehouse_test_${randomBytes(6).toString('hex')}`;
  await admin((client) => client.query(`create database ${name}`));
  return {
    url: withDatabase(POSTGRES_URL, name),
    drop: () =>
      admin((client) => client.query(`drop database if exists ${name} with (force)`)).then(() => {}),
  };
}

/** A fresh database on the PostgreSQL server, migrated the way the service does it; dropped on close. */
export async function freshPostgresConnection(): Promise<DatabaseConnection & { url: string }> {
  const database = await createPostgresDatabase();
  const connection = await openDatabase({ url: database.url, poolSize: 5, dataDir: '' });
  return {
    ...connection,
    url: database.url,
    close: async () => {
      await connection.close();
      await database.drop();
    },
  };
}
