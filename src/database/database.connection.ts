import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppConfig } from '../config/app-config.js';
import { DEFAULT_DATABASE_TIMEOUTS } from '../config/config.schema.js';
import { preparePrivateDataDir } from './data-dir.js';
import { DataDirInUseError, DataDirLock } from './data-dir-lock.js';
import type { PoolTimeouts } from './database-pool.js';
import {
  type EmbeddedPostgres,
  runningServerUrl,
  type ServerLogger,
  startEmbeddedPostgres,
} from './embedded-postgres.js';
import { refuseLegacyDataDir } from './legacy-data-dir.js';
import type { Database, DatabaseConnection, ListenHandlers } from './database.types.js';
import { type RetryCounter, retryingTransactions } from './transaction-retry.js';
import * as schema from './schema.js';

/** The committed SQL migrations (drizzle-kit output), relative to src/ and dist/ alike. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

/** Arbitrary constant: the advisory lock key under which instances migrate one at a time. */
const MIGRATION_LOCK_KEY = 0x6761_7465; // "gate"

/** What opening a database needs: the configuration's `database`; the timeouts default to the settings' defaults. */
export type DatabaseSettings = Omit<AppConfig['database'], 'timeouts'> & {
  timeouts?: AppConfig['database']['timeouts'];
};

/** The configuration's timeouts (seconds) as the pool takes them (milliseconds). */
function poolTimeouts(timeouts: AppConfig['database']['timeouts'] = DEFAULT_DATABASE_TIMEOUTS): PoolTimeouts {
  return {
    statementMs: timeouts.statement * 1000,
    lockMs: timeouts.lock * 1000,
    acquireMs: timeouts.acquire * 1000,
  };
}

/** No bound but on connecting: for work that is no request's, such as the 0.1.0 converter's one long copy. */
export const UNBOUNDED: AppConfig['database']['timeouts'] = { statement: 0, lock: 0, acquire: 5 };

/** How long a dedicated connection (migrations, LISTEN, `exclusively`) may take to open. */
const DEDICATED_CONNECT_TIMEOUT_MS = 5_000;

/**
 * Opens the database the configuration names and brings its schema up to
 * date: PostgreSQL over `pg` when DATABASE_URL is set, otherwise the embedded
 * PostgreSQL server in DATA_DIR (locked for this process alone) — the same
 * driver, code and bounds either way.
 */
export async function openDatabase(
  config: DatabaseSettings,
  options: Omit<EmbeddedOptions, 'timeouts'> = {},
): Promise<DatabaseConnection> {
  return config.url
    ? openPostgres(config.url, config.poolSize, config.timeouts)
    : openEmbedded(config.dataDir, config.poolSize, { ...options, timeouts: config.timeouts });
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
  /** The pool's bounds (seconds); the settings' defaults when absent. */
  timeouts?: AppConfig['database']['timeouts'];
  /** Where the embedded server's supervision reports a crash and the restart (stderr when absent). */
  logger?: ServerLogger;
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
    return attachToRunningServer(dataDir, poolSize, error, options.timeouts);
  }
  let server: EmbeddedPostgres | undefined;
  try {
    server = await startEmbeddedPostgres({ directory: join(dataDir, 'pg'), logger: options.logger });
    const connection = await openPostgres(server.url, poolSize, options.timeouts);
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
  timeouts: AppConfig['database']['timeouts'] | undefined,
): Promise<DatabaseConnection> {
  const directory = join(dataDir, 'pg');
  const url = runningServerUrl(directory);
  if (!url) {
    throw new DataDirInUseError(dataDir, `${inUse.holder}; its database is not running or not ready yet`);
  }
  // It must answer, and be the server of this very cluster, not whatever the file points at.
  let dataDirectory: string | undefined;
  const { default: pg } = await import('pg');
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: DEDICATED_CONNECT_TIMEOUT_MS,
  });
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
  const connection = await openPostgres(url, poolSize, timeouts);
  return { ...connection, embedded: true };
}

/**
 * A PostgreSQL database over `pg`: a pool bounded by `timeouts` (seconds;
 * the settings' defaults when absent) for requests, and dedicated
 * connections for migrations (unbounded: they may wait for another
 * instance's), LISTEN and `exclusively`.
 */
export async function openPostgres(
  url: string,
  poolSize: number,
  timeouts?: AppConfig['database']['timeouts'],
): Promise<DatabaseConnection> {
  const { default: pg } = await import('pg');
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const { DatabasePool, applyTimeouts } = await import('./database-pool.js');
  const bounds = poolTimeouts(timeouts);
  await migrateExclusively(pg.Client, url);
  const pool = new DatabasePool(url, poolSize, bounds);
  const counter: RetryCounter = { retries: 0 };
  // Every transaction of the service, the retention job's included, retries conflicts here.
  const retrying = (client: import('pg').Pool | import('pg').Client) =>
    retryingTransactions(drizzle({ client, schema }), counter);
  return {
    db: retrying(pool),
    embedded: false,
    transactionRetries: () => counter.retries,
    probe: (timeoutMs) => pool.probe(timeoutMs),
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
      const client = new pg.Client({
        connectionString: url,
        connectionTimeoutMillis: DEDICATED_CONNECT_TIMEOUT_MS,
      });
      client.on('error', () => {}); // its next query fails instead
      await client.connect();
      try {
        // The same bounds as a request's: the work runs in short statements, and must never queue
        // requests behind a lock it waits for.
        await applyTimeouts(client, bounds);
        const { rows } = await client.query<{ locked: boolean }>(
          'select pg_try_advisory_lock($1) as locked',
          [key],
        );
        if (!rows[0]?.locked) return { ran: false as const };
        // Released explicitly, or by the server when this connection ends (a crash included).
        const result = await work(retrying(client));
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
 * find nothing left to apply. On a connection of its own, without the
 * requests' timeouts: the wait for another instance, or a migration's
 * statement, may take longer.
 */
async function migrateExclusively(Client: typeof import('pg').Client, url: string): Promise<void> {
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const { migrate } = await import('drizzle-orm/node-postgres/migrator');
  const client = new Client({ connectionString: url, connectionTimeoutMillis: DEDICATED_CONNECT_TIMEOUT_MS });
  client.on('error', () => {}); // its next query fails instead
  await client.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await migrate(drizzle({ client }), { migrationsFolder: MIGRATIONS_FOLDER });
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await client.end().catch(() => {});
  }
}

const RECONNECT_DELAYS_MS = [100, 250, 500, 1_000, 2_000];
export const LISTEN_APPLICATION_NAME = 'gatehouse-listen';
/**
 * How often the LISTEN connection proves that it has delivered every
 * notification committed so far (ListenHandlers.onHeard), and how long after
 * its sending a proof is good for: a caller trusts what it heard only while
 * the latest proof was sent less than LISTEN_TRUST_WINDOW_MS ago, so a
 * connection that dies without a word hides a change for less than that.
 * The window leaves a proof 400 ms to come back before trust lapses (then
 * callers read the database until the next one).
 */
export const LISTEN_PROOF_INTERVAL_MS = 200;
export const LISTEN_TRUST_WINDOW_MS = 600;
/** An unanswered query on the LISTEN connection this long counts as a loss (and it is made again). */
const LIVENESS_TIMEOUT_MS = 1_000;
/** How often a NOTIFY sent through the pool must come back on the LISTEN connection, and within how long. */
const DELIVERY_INTERVAL_MS = 1_000;
const DELIVERY_TIMEOUT_MS = 1_000;
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
 * backoff until stopped. Two heartbeats keep `onListening` honest:
 * - liveness and proof: a query on the LISTEN connection every
 *   LISTEN_PROOF_INTERVAL_MS. The server sends a listener the notifications
 *   committed before a query ahead of that query's reply, and replies arrive
 *   in order, so each answer proves that every notification committed before
 *   the query was sent has been heard (`onHeard`). A connection can die
 *   silently (a NAT or firewall forgets it, a network splits: no reset ever
 *   arrives, and TCP keep-alive takes hours): then the proofs stop at once,
 *   and a query unanswered for a second counts as a loss;
 * - delivery: a connection can answer queries yet never deliver a
 *   notification (a pooler in transaction mode, such as PgBouncer, runs the
 *   LISTEN on a server connection that is not ours by the next statement), so
 *   a NOTIFY sent through the regular pool, with a random payload only this
 *   listener knows, must come back on the LISTEN connection within a second
 *   of being sent — at once after LISTEN, then every second — or the
 *   connection counts as lost. Answered queries prove nothing until the
 *   first one has come back, so such a connection never extends trust.
 * A loss tells the caller to stop trusting what it cached, and the connection
 * is made again.
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
  /**
   * Whether the current connection has delivered a heartbeat of ours: until it
   * has, an answered query proves nothing (behind a pooler in transaction mode,
   * queries are answered by connections that do not LISTEN).
   */
  let delivers = false;

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
    delivers = false;
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

  /** The connection answers a query within the timeout; each answer is a proof of what was heard. */
  const liveness = (current: import('pg').Client, delay: number) => {
    timer(delay, () => {
      if (client !== current) return;
      const sentAt = performance.now();
      const silent = timer(LIVENESS_TIMEOUT_MS, () => lost(current));
      current.query('select 1').then(
        () => {
          clearTimeout(silent);
          timers.delete(silent);
          if (client !== current) return;
          // pg emits each notification as it parses it, before it settles a later reply.
          if (delivers) handlers.onHeard?.(sentAt);
          liveness(current, Math.max(0, sentAt + LISTEN_PROOF_INTERVAL_MS - performance.now()));
        },
        () => lost(current),
      );
    });
  };

  /** A NOTIFY sent through the pool comes back on this connection. */
  const delivery = (current: import('pg').Client, delay: number) => {
    timer(delay, () => {
      if (client !== current) return;
      const payload = HEARTBEAT_PAYLOAD_PREFIX + randomBytes(16).toString('hex');
      const sentAt = performance.now();
      let deadline: NodeJS.Timeout | undefined;
      awaited = {
        payload,
        arrived: () => {
          awaited = undefined;
          if (deadline) {
            clearTimeout(deadline);
            timers.delete(deadline);
          }
          if (client !== current) return;
          // Notifications arrive in commit order: everything committed before this one was heard.
          delivers = true;
          handlers.onHeard?.(sentAt);
          delivery(current, DELIVERY_INTERVAL_MS);
        },
      };
      // The clock starts once the NOTIFY is committed: a pool busy with requests
      // delays the beat, not the verdict (liveness bounds a silent connection).
      notify(payload).then(
        () => {
          if (client === current && awaited?.payload === payload) {
            deadline = timer(DELIVERY_TIMEOUT_MS, () => lost(current));
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
      connectionTimeoutMillis: DEDICATED_CONNECT_TIMEOUT_MS,
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
      liveness(current, LISTEN_PROOF_INTERVAL_MS);
      delivery(current, 0); // at once: until it comes back, answered queries prove nothing
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
