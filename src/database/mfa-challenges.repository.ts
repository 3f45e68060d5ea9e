import { Injectable } from '@nestjs/common';
import { and, eq, gte, inArray, lte, or, sql } from 'drizzle-orm';
import type { Executor, Transaction } from './database.types.js';
import { type MfaChallengeRow, mfaChallenges } from './schema.js';

/** The SQL of the `mfa_challenges` table: second steps of signins, by the hash of their mfaToken. */
@Injectable()
export class MfaChallengesRepository {
  async insert(
    db: Executor,
    challenge: Pick<
      MfaChallengeRow,
      'tokenHash' | 'userId' | 'passwordFingerprint' | 'createdAt' | 'expiresAt'
    >,
  ): Promise<void> {
    await db.insert(mfaChallenges).values(challenge);
  }

  /** Which user a challenge belongs to (no lock: the transaction that uses it locks it). */
  async find(db: Executor, tokenHash: Buffer): Promise<MfaChallengeRow | undefined> {
    const [row] = await db
      .select()
      .from(mfaChallenges)
      .where(eq(mfaChallenges.tokenHash, tokenHash))
      .limit(1);
    return row;
  }

  /** The challenge, locked until the transaction ends: its attempts are checked one at a time. */
  async lock(tx: Transaction, tokenHash: Buffer): Promise<MfaChallengeRow | undefined> {
    const [row] = await tx
      .select()
      .from(mfaChallenges)
      .where(eq(mfaChallenges.tokenHash, tokenHash))
      .for('update')
      .limit(1);
    return row;
  }

  /** Counts one wrong code; returns the failures so far. */
  async recordFailure(db: Executor, tokenHash: Buffer): Promise<number> {
    const [row] = await db
      .update(mfaChallenges)
      .set({ failures: sql`${mfaChallenges.failures} + 1` })
      .where(eq(mfaChallenges.tokenHash, tokenHash))
      .returning({ failures: mfaChallenges.failures });
    return row?.failures ?? 0;
  }

  async delete(db: Executor, tokenHash: Buffer): Promise<void> {
    await db.delete(mfaChallenges).where(eq(mfaChallenges.tokenHash, tokenHash));
  }

  /** Ends every challenge of the user (MFA turned off or reset). */
  async deleteOfUser(db: Executor, userId: string): Promise<void> {
    await db.delete(mfaChallenges).where(eq(mfaChallenges.userId, userId));
  }

  /** Deletes the user's challenges that can no longer be used (expired, or out of attempts). */
  async deleteDeadOfUser(db: Executor, userId: string, now: Date, maxFailures: number): Promise<void> {
    await db
      .delete(mfaChallenges)
      .where(
        and(
          eq(mfaChallenges.userId, userId),
          or(lte(mfaChallenges.expiresAt, now), gte(mfaChallenges.failures, maxFailures)),
        ),
      );
  }

  /** Deletes up to `batch` challenges expired before `before`; returns how many (the retention job). */
  async purgeExpired(db: Executor, before: Date, batch: number): Promise<number> {
    const doomed = db
      .select({ tokenHash: mfaChallenges.tokenHash })
      .from(mfaChallenges)
      .where(lte(mfaChallenges.expiresAt, before))
      .limit(batch);
    const gone = await db
      .delete(mfaChallenges)
      .where(inArray(mfaChallenges.tokenHash, doomed))
      .returning({ userId: mfaChallenges.userId });
    return gone.length;
  }
}
