import { setTimeout as sleep } from 'node:timers/promises';
import type { PgTransactionConfig } from 'drizzle-orm/pg-core';
import type { Database, Transaction } from './database.types.js';
import { classifyDatabaseError } from './postgres-errors.js';

/** Runs of a transaction that fails on a serialization failure or a deadlock, the first included. */
export const TRANSACTION_ATTEMPTS = 3;

/** The wait before the second run; it doubles for each later one, drawn between it and twice it. */
const FIRST_BACKOFF_MS = 10;

/** Transactions run again, counted since the database was opened (gatehouse_database_retries_total). */
export interface RetryCounter {
  retries: number;
}

/**
 * Makes `db.transaction` run the whole transaction again — a new `begin`,
 * the callback from its start — when it failed on a serialization failure
 * or a deadlock (40001, 40P01): the server rolled it back, and the same
 * work usually succeeds a moment later. At most TRANSACTION_ATTEMPTS runs,
 * a short random wait between them (so that the two sides of a deadlock do
 * not meet again); then the error goes on to classifyDatabaseError (503
 * `conflict`). A savepoint (`tx.transaction`) is not retried by itself: its
 * failure aborts the transaction around it, which is the unit retried.
 *
 * So a callback must have no effect outside the database that may not happen
 * twice; its callers act on what it returns after the commit.
 */
export function retryingTransactions(db: Database, counter: RetryCounter): Database {
  const transaction = db.transaction.bind(db);
  db.transaction = async <T>(
    work: (tx: Transaction) => Promise<T>,
    config?: PgTransactionConfig,
  ): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await transaction(work, config);
      } catch (error) {
        if (attempt >= TRANSACTION_ATTEMPTS || classifyDatabaseError(error)?.class !== 'conflict')
          throw error;
        counter.retries++;
        const backoff = FIRST_BACKOFF_MS * 2 ** (attempt - 1);
        await sleep(backoff * (1 + Math.random()));
      }
    }
  };
  return db;
}
