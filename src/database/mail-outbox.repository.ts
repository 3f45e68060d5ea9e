import { Injectable } from '@nestjs/common';
import { and, asc, count, eq, gt, inArray, lt, lte, sql } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import type { Executor, Transaction } from './database.types.js';
import { type MailOutboxRow, mailOutbox } from './schema.js';

/** First key of the advisory locks that serialise mail to one address ("mail"). */
const ADDRESS_LOCK_CLASS = 0x6d61_696c;

/** What `mail failed` shows of a failed mail: never its content. */
export type FailedMail = Pick<
  MailOutboxRow,
  'id' | 'kind' | 'recipient' | 'attempts' | 'createdAt' | 'finishedAt' | 'lastError'
>;

/**
 * The SQL of the `mail_outbox` table. Every method runs on the caller's
 * executor (db or transaction); times are the database's (`now()`), so that
 * instances agree on what is due whatever their clocks.
 */
@Injectable()
export class MailOutboxRepository {
  /**
   * Serialises, until the transaction ends, the transactions that queue mail
   * to one address (any case), so that counting then inserting respects
   * MAIL_PER_ADDRESS_PER_HOUR under concurrency.
   */
  async lockAddress(tx: Transaction, address: string): Promise<void> {
    await tx.execute(sql`select pg_advisory_xact_lock(${ADDRESS_LOCK_CLASS}, hashtext(lower(${address})))`);
  }

  /** Mail queued to this address (any case) in the last `seconds`, whatever became of it. */
  async countRecent(db: Executor, address: string, seconds: number): Promise<number> {
    const [row] = await db
      .select({ n: count() })
      .from(mailOutbox)
      .where(
        and(
          sql`lower(${mailOutbox.recipient}) = lower(${address})`,
          gt(mailOutbox.createdAt, sql`now() - make_interval(secs => ${seconds})`),
        ),
      );
    return row?.n ?? 0;
  }

  async insert(
    db: Executor,
    mail: { kind: string; recipient: string; userId: string | null; payload?: Record<string, string> },
  ): Promise<string> {
    const id = uuidv7();
    await db.insert(mailOutbox).values({ id, ...mail, payload: mail.payload ?? {} });
    return id;
  }

  /**
   * Claims the mail due longest, if any: `FOR UPDATE SKIP LOCKED`, so that
   * workers of several instances never claim one row together, and the claim
   * lasts `leaseSeconds` (the row is due again then, should this worker die).
   * The claim counts as an attempt.
   */
  async claimDue(db: Executor, claimId: string, leaseSeconds: number): Promise<MailOutboxRow | undefined> {
    const due = db
      .select({ id: mailOutbox.id })
      .from(mailOutbox)
      .where(and(eq(mailOutbox.status, 'pending'), lte(mailOutbox.nextAttemptAt, sql`now()`)))
      .orderBy(asc(mailOutbox.nextAttemptAt))
      .limit(1)
      .for('update', { skipLocked: true });
    const [row] = await db
      .update(mailOutbox)
      .set({
        claimId,
        attempts: sql`${mailOutbox.attempts} + 1`,
        nextAttemptAt: sql`now() + make_interval(secs => ${leaseSeconds})`,
      })
      .where(inArray(mailOutbox.id, due))
      .returning();
    return row;
  }

  /** Ends a claimed mail as sent, cancelled (nothing to send) or failed; false if the claim was lost. */
  async finish(
    db: Executor,
    id: string,
    claimId: string,
    status: 'sent' | 'cancelled' | 'failed',
    lastError: string | null = null,
  ): Promise<boolean> {
    const rows = await db
      .update(mailOutbox)
      .set({ status, claimId: null, finishedAt: sql`now()`, ...(lastError === null ? {} : { lastError }) })
      .where(and(eq(mailOutbox.id, id), eq(mailOutbox.claimId, claimId)))
      .returning({ id: mailOutbox.id });
    return rows.length > 0;
  }

  /** Gives a claimed mail back, due again in `delaySeconds` (a retry); false if the claim was lost. */
  async release(
    db: Executor,
    id: string,
    claimId: string,
    delaySeconds: number,
    lastError: string,
  ): Promise<boolean> {
    const rows = await db
      .update(mailOutbox)
      .set({
        claimId: null,
        lastError,
        nextAttemptAt: sql`now() + make_interval(secs => ${delaySeconds})`,
      })
      .where(and(eq(mailOutbox.id, id), eq(mailOutbox.claimId, claimId)))
      .returning({ id: mailOutbox.id });
    return rows.length > 0;
  }

  /** Mail waiting to be sent (due now or later, claimed or not). */
  async pendingCount(db: Executor): Promise<number> {
    const [row] = await db.select({ n: count() }).from(mailOutbox).where(eq(mailOutbox.status, 'pending'));
    return row?.n ?? 0;
  }

  /** Failed mail, oldest first. */
  async listFailed(db: Executor, limit: number): Promise<FailedMail[]> {
    return db
      .select({
        id: mailOutbox.id,
        kind: mailOutbox.kind,
        recipient: mailOutbox.recipient,
        attempts: mailOutbox.attempts,
        createdAt: mailOutbox.createdAt,
        finishedAt: mailOutbox.finishedAt,
        lastError: mailOutbox.lastError,
      })
      .from(mailOutbox)
      .where(eq(mailOutbox.status, 'failed'))
      .orderBy(asc(mailOutbox.createdAt), asc(mailOutbox.id))
      .limit(limit);
  }

  /** Makes failed mail (one, or all) pending again with a fresh count of attempts; their ids. */
  async requeueFailed(db: Executor, id?: string): Promise<string[]> {
    const rows = await db
      .update(mailOutbox)
      .set({ status: 'pending', attempts: 0, nextAttemptAt: sql`now()`, finishedAt: null })
      .where(and(eq(mailOutbox.status, 'failed'), id === undefined ? undefined : eq(mailOutbox.id, id)))
      .returning({ id: mailOutbox.id });
    return rows.map((row) => row.id);
  }

  /** Deletes up to `batch` mails of `statuses` finished before `cutoff`; returns how many. */
  async purgeFinishedBefore(
    db: Executor,
    statuses: ('sent' | 'cancelled' | 'failed')[],
    cutoff: Date,
    batch: number,
  ): Promise<number> {
    const doomed = db
      .select({ id: mailOutbox.id })
      .from(mailOutbox)
      .where(and(inArray(mailOutbox.status, statuses), lt(mailOutbox.finishedAt, cutoff)))
      .limit(batch);
    const gone = await db
      .delete(mailOutbox)
      .where(inArray(mailOutbox.id, doomed))
      .returning({ id: mailOutbox.id });
    return gone.length;
  }
}
