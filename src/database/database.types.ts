import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import type * as schema from './schema.js';

/** Drizzle over node-postgres, for a PostgreSQL server or the embedded one alike. */
export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;

/** A transaction handle, as passed to `db.transaction(async (tx) => …)`. */
export type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];

/** Either a database or a transaction: repository methods accept both so callers can compose them. */
export type Executor = Database | Transaction;

export interface DatabaseConnection {
  readonly db: Database;
  /** The embedded server in DATA_DIR (one process holds it), or a PostgreSQL server shared by instances. */
  readonly embedded: boolean;
  /** Transactions run again after a serialization failure or a deadlock, since opening (see retryingTransactions). */
  transactionRetries(): number;
  /**
   * Resolves when the database can serve a request now: a pooled connection
   * comes, takes the lock every write takes on the main tables within
   * `timeoutMs` (an exclusive lock held elsewhere, or a stalled server, fails
   * it), and is not read-only. Rejects otherwise.
   */
  probe(timeoutMs: number): Promise<void>;
  /**
   * LISTEN on a channel over a dedicated connection
   * that reconnects by itself. Handlers hear every notification, and every
   * loss and recovery of the connection (messages sent meanwhile are lost).
   * Returns a function that stops listening.
   */
  listen(channel: string, handlers: ListenHandlers): () => Promise<void>;
  /**
   * Runs `work` only if no other process (instance) is running work under
   * the same key: a PostgreSQL advisory try-lock, held on a dedicated
   * connection (not one of the pool's) for as long as `work` runs, its
   * statements each committing on their own. Resolves `{ ran: false }` at
   * once when another holds the lock; the lock dies with the connection.
   */
  exclusively<T>(
    key: number,
    work: (db: Database) => Promise<T>,
  ): Promise<{ ran: true; result: T } | { ran: false }>;
  close(): Promise<void>;
}

/** Injection token of the open DatabaseConnection. */
export const DATABASE_CONNECTION = Symbol('DATABASE_CONNECTION');

export interface ListenHandlers {
  onNotification(payload: string): void;
  /** Listening (again): notifications from now on will arrive. */
  onListening(): void;
  /** The connection is lost: notifications may be missed until onListening. */
  onLost(): void;
  /**
   * Every notification committed before `sentAt` (a `performance.now()` of
   * this process) has been handed to onNotification: a heartbeat sent then
   * came back. Called every LISTEN_PROOF_INTERVAL_MS or so while the
   * connection is healthy; a caller that trusts what it heard only while the
   * latest proof is recent bounds what a silently dead connection can hide.
   */
  onHeard?(sentAt: number): void;
}
