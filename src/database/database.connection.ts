import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppConfig } from '../config/app-config.js';
import { preparePrivateDataDir } from './data-dir.js';
import { DataDirInUseError, DataDirLock } from './data-dir-lock.js';
import { type EmbeddedPostgres, runningServerUrl, startEmbeddedPostgres } from './embedded-postgres.js';
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
export async function openDatabase(
  config: AppConfig['database'],
  options: EmbeddedOptions = {},
): Promise<DatabaseConnection> {
  return config.url
    ? openPostgres(config.url, config.poolSize)
    : openEmbedded(config.dataDir, config.poolSize, options);
}

export interface EmbeddedOptions {
  /** Only for the converter of a 0.1.0 directory. */
  legacyAllowed?: boolean;
  /**
   * For the command line: when another process (the service) holds DATA_DIR,
   * work through the embedded server it runs — as one more client of it, over
   * its Unix socket — instead of refusing. The server stays that process's.
   */
  besideRunningService?: boolean;
}

/** The embedded server in DATA_DIR/pg. */
export async function openEmbedded(
  dataDir: string,
  poolSize: number,
  options: EmbeddedOptions = {},
): Promise<DatabaseConnection> {
  if (!options.legacyAllowed) refuseLegacyDataDir(dataDir); // first: its message names the way out
  preparePrivateDataDir(dataDir);
  let lock: DataDirLock;
  try {
    lock = DataDirLock.acquire(dataDir);
  } catch (error) {
    if (!(error instanceof DataDirInUseError) || !options.besideRunningService) throw error;
    return attachToRunningServer(dataDir, poolSize, error);
  }
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

/**
 * A connection to the embedded server of the process that holds DATA_DIR.
 * Two servers on one cluster would corrupt it; two clients of one server are
 * what a server is for. Closing the connection leaves the server running.
 */
async function attachToRunningServer(
  dataDir: string,
  poolSize: number,
  inUse: DataDirInUseError,
): Promise<DatabaseConnection> {
  const directory = join(dataDir, 'pg');
  const url = runningServerUrl(directory);
  if (!url) {
    throw new DataDirInUseError(dataDir, `${inUse.holder}; its database is not running or not ready yet`);
  }
  // It must answer, and be the server of this very cluster, not whatever the file points at.
  let dataDirectory: string | undefined;
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {}); // the query below fails instead
  try {
    await client.connect();
    const { rows } = await client.query<{ dir: string }>("select current_setting('data_directory') as dir");
    dataDirectory = rows[0]?.dir;
  } catch (error) {
    throw new DataDirInUseError(
      dataDir,
      `${inUse.holder}; its database does not answer: ${error instanceof Error ? error.message : String(error)}`,
    );
  } finally {
    await client.end().catch(() => {});
  }
  if (dataDirectory !== resolve(directory)) {
    throw new DataDirInUseError(dataDir, `${inUse.holder}; the server its files name is not this one's`);
  }
  const connection = await openPostgres(url, poolSize);
  return { ...connection, embedded: true };
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
    listen: (channel, handlers) =>
      listenWithReconnect(pg.Client, url, channel, handlers, async (payload) => {
        // Bounded: a pooled connection that died silently must not hold the heartbeat (or the pool) forever.
        const query = {
          text: 'select pg_notify($1, $2)',
          values: [channel, payload],
          query_timeout: HEARTBEAT_NOTIFY_TIMEOUT_MS, // honoured by pg, missing from its types
        };
        await pool.query(query);
      }),
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
/** How long the delivery heartbeat's NOTIFY may take on a pooled connection before it counts as a loss. */
const HEARTBEAT_NOTIFY_TIMEOUT_MS = 5_000;
/**
 * Heartbeat notifications start with this; the triggers' payloads are JSON
 * objects, so no real change can be taken for one. Every listener drops every
 * heartbeat (its own and other instances'): handlers never see them.
 */
export const HEARTBEAT_PAYLOAD_PREFIX = 'gatehouse-heartbeat:';

/**
 * LISTEN on a dedicated client (a pooled one would be handed to others).
 * When the connection drops, says so at once and reconnects with a short
 * backoff until stopped. Two heartbeats, every second, keep `onListening`
 * honest:
 * - liveness: a connection can die silently (a NAT or firewall forgets it, a
 *   network splits: no reset ever arrives, and TCP keep-alive takes hours), so
 *   a query on the LISTEN connection must be answered within a second;
 * - delivery: a connection can answer queries yet never deliver a
 *   notification (a pooler in transaction mode, such as PgBouncer, runs the
 *   LISTEN on a server connection that is not ours by the next statement), so
 *   a NOTIFY sent through the regular pool, with a random payload only this
 *   listener knows, must come back on the LISTEN connection within a second of
 *   being sent.
 * Either failure counts as a loss (the caller stops trusting what it cached,
 * and the connection is made again), so missed notifications are bounded to
 * about two seconds.
 */
function listenWithReconnect(
  Client: typeof import('pg').Client,
  url: string,
  channel: string,
  handlers: ListenHandlers,
  notify: (payload: string) => Promise<void>,
): () => Promise<void> {
  let stopped = false;
  let client: import('pg').Client | undefined;
  let attempt = 0;
  let retry: NodeJS.Timeout | undefined;
  /** Timers of the current connection's heartbeats, cleared when it is lost. */
  const timers = new Set<NodeJS.Timeout>();
  /** The delivery heartbeat's payload awaited now, and what to do when it arrives. */
  let awaited: { payload: string; arrived: () => void } | undefined;

  const timer = (ms: number, run: () => void) => {
    const handle = setTimeout(() => {
      timers.delete(handle);
      run();
    }, ms);
    handle.unref();
    timers.add(handle);
    return handle;
  };
  const clearTimers = () => {
    for (const handle of timers) clearTimeout(handle);
    timers.clear();
    awaited = undefined;
  };

  const scheduleReconnect = () => {
    if (stopped || retry) return;
    const delay = RECONNECT_DELAYS_MS[Math.min(attempt++, RECONNECT_DELAYS_MS.length - 1)];
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, delay);
    retry.unref();
  };

  /** The connection answers a query within the timeout. */
  const liveness = (current: import('pg').Client) => {
    timer(HEARTBEAT_INTERVAL_MS, () => {
      if (client !== current) return;
      const silent = timer(HEARTBEAT_TIMEOUT_MS, () => lost(current));
      current.query('select 1').then(
        () => {
          clearTimeout(silent);
          timers.delete(silent);
          if (client === current) liveness(current);
        },
        () => lost(current),
      );
    });
  };

  /** A NOTIFY sent through the pool comes back on this connection. */
  const delivery = (current: import('pg').Client) => {
    timer(HEARTBEAT_INTERVAL_MS, () => {
      if (client !== current) return;
      const payload = HEARTBEAT_PAYLOAD_PREFIX + randomBytes(16).toString('hex');
      let deadline: NodeJS.Timeout | undefined;
      awaited = {
        payload,
        arrived: () => {
          awaited = undefined;
          if (deadline) {
            clearTimeout(deadline);
            timers.delete(deadline);
          }
          if (client === current) delivery(current);
        },
      };
      // The clock starts once the NOTIFY is committed: a pool busy with requests
      // delays the beat, not the verdict (liveness bounds a silent connection).
      notify(payload).then(
        () => {
          if (client === current && awaited?.payload === payload) {
            deadline = timer(HEARTBEAT_TIMEOUT_MS, () => lost(current));
          }
        },
        () => lost(current),
      );
    });
  };

  const lost = (current: import('pg').Client) => {
    if (client !== current) return; // already handled
    client = undefined;
    clearTimers();
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
      if (message.channel !== channel || message.payload === undefined) return;
      if (message.payload.startsWith(HEARTBEAT_PAYLOAD_PREFIX)) {
        if (client === current && awaited?.payload === message.payload) awaited.arrived();
        return; // a heartbeat, ours or another instance's: never a change
      }
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
      liveness(current);
      delivery(current);
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
    clearTimers();
    const current = client;
    client = undefined;
    await current?.end().catch(() => {});
  };
}
