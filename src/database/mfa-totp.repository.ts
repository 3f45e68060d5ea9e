import { Injectable } from '@nestjs/common';
import { and, eq, lt } from 'drizzle-orm';
import type { Executor } from './database.types.js';
import { type MfaTotpRow, mfaTotp } from './schema.js';

/** The SQL of the `mfa_totp` table: one TOTP authenticator per user. */
@Injectable()
export class MfaTotpRepository {
  /** The user's authenticator, pending or active. */
  async find(db: Executor, userId: string): Promise<MfaTotpRow | undefined> {
    const [row] = await db.select().from(mfaTotp).where(eq(mfaTotp.userId, userId)).limit(1);
    return row;
  }

  /** Stores a new (pending) secret, replacing any pending one; the step counter starts again. */
  async upsert(db: Executor, userId: string, secretEncrypted: string): Promise<void> {
    await db
      .insert(mfaTotp)
      .values({ userId, secretEncrypted })
      .onConflictDoUpdate({
        target: mfaTotp.userId,
        set: { secretEncrypted, lastUsedStep: 0, createdAt: new Date() },
      });
  }

  /**
   * Records that a code of time step `step` was accepted — only if no code of this step or a
   * later one was accepted before (compare-and-set in one statement): false means a replay.
   */
  async claimStep(db: Executor, userId: string, step: number): Promise<boolean> {
    const claimed = await db
      .update(mfaTotp)
      .set({ lastUsedStep: step })
      .where(and(eq(mfaTotp.userId, userId), lt(mfaTotp.lastUsedStep, step)))
      .returning({ userId: mfaTotp.userId });
    return claimed.length === 1;
  }

  async delete(db: Executor, userId: string): Promise<boolean> {
    const deleted = await db
      .delete(mfaTotp)
      .where(eq(mfaTotp.userId, userId))
      .returning({ userId: mfaTotp.userId });
    return deleted.length > 0;
  }
}
