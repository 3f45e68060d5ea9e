import pg from 'pg';
import { discardsConnection, markConnectFailure } from './postgres-errors.js';

/** Bounds on a request's time in the database, in milliseconds (0: none). */
export interface PoolTimeouts {
  /** One statement's run time (PostgreSQL's statement_timeout). */
  statementMs: number;
  /** One wait for a lock (lock_timeout). */
  lockMs: number;
  /** Getting a connection from the pool: waiting for a free one, or making a new one. */
  acquireMs: number;
}

/**
 * How much longer than the statement timeout the driver waits for an answer
 * before failing the query itself: the server enforces statement_timeout, but
 * a server that stopped answering (frozen, or cut off by the network) cannot.
 */
const STALLED_SERVER_MARGIN_MS = 2_000;

/** Whether a query (text or config) is a `begin`. */
function opensTransaction(query: unknown): boolean {
  const text = typeof query === 'string' ? query : (query as { text?: unknown } | null)?.text;
  return typeof text === 'string' && /^\s*(begin|start\s+transaction)\b/i.test(text);
}

const SET_TIMEOUTS =
  "select set_config('statement_timeout', $1, false), set_config('lock_timeout', $2, false)";

/**
 * Applies the statement and lock timeouts to a connection, for the rest of
 * its session. A SET rather than startup parameters: poolers such as
 * PgBouncer refuse unknown startup parameters.
 */
export async function applyTimeouts(client: pg.ClientBase, timeouts: PoolTimeouts): Promise<void> {
  await client.query(SET_TIMEOUTS, [String(timeouts.statementMs), String(timeouts.lockMs)]);
}

/**
 * The service's connection pool: every connection bounded by the timeouts,
 * and none handed out again once its server said it can no longer serve it.
 *
 * Hygiene: `pool.query` already releases its connection with the query's
 * error, and the pool discards a connection released with an error; a
 * connection checked out for a transaction comes back with a bare
 * `release()` (Drizzle's), so this pool's `release` adds the reason itself
 * when the server sent an error that condemns the connection (read-only,
 * shutting down: see discardsConnection) or when the connection is given back
 * inside a transaction (its rollback failed: the server is gone or stalled).
 * After a failover, each connection to the old server fails once and leaves,
 * and writes recover by themselves as soon as new connections reach a
 * writable server.
 */
export class DatabasePool extends pg.Pool {
  /** Connections on which the server sent an error that condemns them. */
  private readonly condemned = new WeakSet<pg.ClientBase>();

  constructor(url: string, size: number, timeouts: PoolTimeouts) {
    super({
      connectionString: url,
      max: size,
      connectionTimeoutMillis: timeouts.acquireMs,
      ...(timeouts.statementMs > 0 && { query_timeout: timeouts.statementMs + STALLED_SERVER_MARGIN_MS }),
      // Before the connection's first use: pg-pool awaits the promise (its types say void).
      // eslint-disable-next-line @typescript-eslint/no-misused-promises
      onConnect: (client) => applyTimeouts(client, timeouts),
    });
    // An idle client that loses its server emits 'error' on the pool; without a listener that kills the process.
    this.on('error', () => {});
    this.on('connect', (client) => {
      // A client checked out of the pool (a transaction) has no listener of the pool's: should the
      // server end its connection between two queries (a restart, a failover), its 'error' event would
      // kill the process. Its next query fails instead (503), and the broken client leaves the pool.
      client.on('error', () => {});
      // Every error the server sends on this connection, whichever query it ends.
      client.connection.on('errorMessage', (message: { code?: string }) => {
        if (discardsConnection(message.code)) this.condemned.add(client);
      });
    });
  }

  /** Makes the pool discard this connection when it is released. */
  condemn(client: pg.ClientBase): void {
    this.condemned.add(client);
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(
    callback: (
      err: Error | undefined,
      client: pg.PoolClient | undefined,
      done: (release?: unknown) => void,
    ) => void,
  ): void;
  override connect(
    callback?: (
      err: Error | undefined,
      client: pg.PoolClient | undefined,
      done: (release?: unknown) => void,
    ) => void,
  ): Promise<pg.PoolClient> | void {
    if (callback) {
      // pool.query's checkout: it releases with the query's error itself.
      super.connect((error, client, done) => callback(error && markConnectFailure(error), client, done));
      return;
    }
    return super.connect().then(
      (client) => this.guarded(client),
      (error: unknown) => {
        throw markConnectFailure(error);
      },
    );
  }

  /**
   * The client, with a `release` that discards it when it must not serve
   * again, and that may be called twice (the second call does nothing).
   *
   * Drizzle's `transaction` sends `begin` before its try/finally, so a
   * connection on which `begin` fails (broken, stalled past the query
   * timeout) is never given back: the pool would shrink by one each time —
   * until every request timed out acquiring — and its end would wait for
   * ever. So when the first statement of a checkout is a `begin` and fails,
   * the connection is released here, discarded.
   */
  private guarded(client: pg.PoolClient): pg.PoolClient {
    const release = client.release.bind(client); // the pool's, new at each checkout
    let released = false;
    client.release = (error?: Error | boolean) => {
      if (released) return;
      released = true;
      const discard = this.condemned.has(client) || client.getTransactionStatus() !== 'I';
      release(error || discard || undefined);
    };
    const own = client as unknown as { query?: (...args: unknown[]) => unknown };
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    own.query = (...args: unknown[]) => {
      delete own.query; // the prototype's again: only the checkout's first statement is watched
      const result = query(...args);
      if (opensTransaction(args[0]) && result instanceof Promise) {
        result.catch(() => client.release(true));
      }
      return result;
    };
    return client;
  }

  /**
   * Resolves when the database can serve a request now, within `timeoutMs`:
   * a real query on a pooled connection that takes the lock every write takes
   * on the main tables (so an exclusive lock held by a migration or an
   * operator, or a stalled server, fails it), in a transaction that must not
   * be read-only. Rejects otherwise.
   */
  async probe(timeoutMs: number): Promise<void> {
    const client = await this.connect();
    try {
      await client.query('begin');
      try {
        await client.query(
          "select set_config('lock_timeout', $1, true), set_config('statement_timeout', $1, true)",
          [String(timeoutMs)],
        );
        await client.query('lock table users, sessions in row exclusive mode');
        const { rows } = await client.query<{ read_only: string }>(
          "select current_setting('transaction_read_only') as read_only",
        );
        if (rows[0]?.read_only !== 'off') {
          this.condemn(client); // a replica: a new connection may reach the primary
          throw Object.assign(new Error('the database is read-only'), { code: '25006' });
        }
      } finally {
        await client.query('rollback');
      }
    } finally {
      client.release();
    }
  }
}
