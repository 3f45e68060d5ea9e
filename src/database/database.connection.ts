import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppConfig } from '../config/app-config.js';
import { preparePrivateDataDir } from './data-dir.js';
import { DataDirLock } from './data-dir-lock.js';
import { type EmbeddedPostgres, startEmbeddedPostgres } from './embedded-postgres.js';
import { refuseLegacyDataDir } from './legacy-data-dir.js';
import type { Database, DatabaseConnection, ListenHandlers } from './database.types.js';
import * as schema from './schema.js';

/** The committed SQL migrations (drizzle-kit output), relative to src/ and dist/ alike. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

/** Arbitrary constant: the advisory lock key under which instances migrate one at a time. */
const MIGRATION_LOCK_KEY = 0x6761_7465; // "gate"

/**
 * Opens the database the configuration names and brings its schema up to
 * date: PostgreSQL over `pg` when DATABASE_URL is set, otherwise the embedded
 * PostgreSQL server in DATA_DIR (locked for this process alone) — the same
 * driver and code either way.
 */
export async function openDatabase(config: AppConfig['database']): Promise<DatabaseConnection> {
  return config.url
    ? openPostgres(config.url, config.poolSize)
    : openEmbedded(config.dataDir, config.poolSize);
}

/** The embedded server in DATA_DIR/pg; `legacyAllowed` only for the converter of a 0.1.0 directory. */
export async function openEmbedded(
  dataDir: string,
  poolSize: number,
  options: { legacyAllowed?: boolean } = {},
): Promise<DatabaseConnection> {
  if (!options.legacyAllowed) refuseLegacyDataDir(dataDir); // first: its message names the way out
  preparePrivateDataDir(dataDir);
  const lock = DataDirLock.acquire(dataDir);
  let server: EmbeddedPostgres | undefined;
  try {
    server = await startEmbeddedPostgres({ directory: join(dataDir, 'pg') });
    const connection = await openPostgres(server.url, poolSize);
    const running = server;
    return {
      ...connection,
      embedded: true,
      close: async () => {
        try {
          await connection.close();
          await running.stop();
        } finally {
          lock.release();
        }
      },
    };
  } catch (error) {
    await server?.stop();
    lock.release();
    throw error;
  }
}

export async function openPostgres(url: string, poolSize: number): Promise<DatabaseConnection> {
  const { default: pg } = await import('pg');
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 5_000 });
  // An idle client that loses its server emits 'error' on the pool; without a listener that kills the process.
  pool.on('error', () => {});
  // A client checked out of the pool (a transaction) has no listener of the pool's: should the
  // server end its connection between two queries (a restart, a failover), its 'error' event would
  // kill the process. Its next query fails instead (503), and the broken client leaves the pool.
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = drizzle({ client: pool, schema });
  try {
    await migrateExclusively(pool);
  } catch (error) {
    await pool.end();
    throw error;
  }
  return {
    db: db as unknown as Database,
    embedded: false,
    ping: async () => {
      await pool.query('select 1');
    },
    listen: (channel, handlers) => listenWithReconnect(pg.Client, url, channel, handlers),
    exclusively: async <T>(key: number, work: (db: Database) => Promise<T>) => {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
      client.on('error', () => {}); // its next query fails instead
      await client.connect();
      try {
        const { rows } = await client.query<{ locked: boolean }>(
          'select pg_try_advisory_lock($1) as locked',
          [key],
        );
        if (!rows[0]?.locked) return { ran: false as const };
        // Released explicitly, or by the server when this connection ends (a crash included).
        const result = await work(drizzle({ client, schema }));
        await client.query('select pg_advisory_unlock($1)', [key]);
        return { ran: true as const, result };
      } finally {
        await client.end().catch(() => {});
      }
    },
    close: () => pool.end(),
  };
}

/**
 * Applies pending migrations while holding a PostgreSQL advisory lock, so
 * instances starting together migrate exactly once: the others wait, then
 * find nothing left to apply.
 */
async function migrateExclusively(pool: import('pg').Pool): Promise<void> {
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const { migrate } = await import('drizzle-orm/node-postgres/migrator');
  const client = await pool.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await migrate(drizzle({ client }), { migrationsFolder: MIGRATIONS_FOLDER });
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    client.release();
  }
}

const RECONNECT_DELAYS_MS = [100, 250, 500, 1_000, 2_000];
export const LISTEN_APPLICATION_NAME = 'gatehouse-listen';
/** How often the LISTEN connection proves it is alive, and how long its answer may take. */
const HEARTBEAT_INTERVAL_MS = 1_000;
const HEARTBEAT_TIMEOUT_MS = 1_000;

/**
 * LISTEN on a dedicated client (a pooled one would be handed to others).
 * When the connection drops, says so at once and reconnects with a short
 * backoff until stopped. A connection can also die silently (a NAT or
 * firewall forgets it, a network splits: no reset ever arrives, and TCP
 * keep-alive takes hours): a heartbeat query that gets no answer within a
 * second counts as a loss, so missed notifications are bounded to about two
 * seconds even then.
 */
function listenWithReconnect(
  Client: typeof import('pg').Client,
  url: string,
  channel: string,
  handlers: ListenHandlers,
): () => Promise<void> {
  let stopped = false;
  let client: import('pg').Client | undefined;
  let attempt = 0;
  let retry: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;

  const scheduleReconnect = () => {
    if (stopped || retry) return;
    const delay = RECONNECT_DELAYS_MS[Math.min(attempt++, RECONNECT_DELAYS_MS.length - 1)];
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, delay);
    retry.unref();
  };

  const beat = (current: import('pg').Client) => {
    heartbeat = setTimeout(() => {
      if (client !== current) return;
      const silent = setTimeout(() => lost(current), HEARTBEAT_TIMEOUT_MS);
      silent.unref();
      current.query('select 1').then(
        () => {
          clearTimeout(silent);
          if (client === current) beat(current);
        },
        () => {
          clearTimeout(silent);
          lost(current);
        },
      );
    }, HEARTBEAT_INTERVAL_MS);
    heartbeat.unref();
  };

  const lost = (current: import('pg').Client) => {
    if (client !== current) return; // already handled
    client = undefined;
    clearTimeout(heartbeat);
    handlers.onLost();
    void current.end().catch(() => {});
    scheduleReconnect();
  };

  const connect = async () => {
    const current = new Client({
      connectionString: url,
      connectionTimeoutMillis: 5_000,
      keepAlive: true,
      // Names it in pg_stat_activity (its last query is a heartbeat's, not the LISTEN).
      application_name: LISTEN_APPLICATION_NAME,
    });
    current.on('error', () => lost(current));
    current.on('end', () => lost(current));
    current.on('notification', (message) => {
      if (message.channel === channel && message.payload !== undefined)
        handlers.onNotification(message.payload);
    });
    client = current;
    try {
      await current.connect();
      await current.query(`LISTEN ${channel}`);
      if (stopped) {
        await current.end();
        return;
      }
      attempt = 0;
      handlers.onListening();
      beat(current);
    } catch {
      if (client === current) {
        client = undefined;
        void current.end().catch(() => {});
        scheduleReconnect();
      }
    }
  };

  void connect();
  return async () => {
    stopped = true;
    clearTimeout(retry);
    clearTimeout(heartbeat);
    const current = client;
    client = undefined;
    await current?.end().catch(() => {});
  };
}
