import { Injectable } from '@nestjs/common';
import { and, count, eq, isNull } from 'drizzle-orm';
import type { Executor } from './database.types.js';
import { mfaRecoveryCodes } from './schema.js';

/** The SQL of the `mfa_recovery_codes` table: hashes of single-use recovery codes. */
@Injectable()
export class MfaRecoveryCodesRepository {
  /** Replaces every code of the user (used or not) with these hashes. */
  async replace(db: Executor, userId: string, codeHashes: Buffer[]): Promise<void> {
    await this.deleteAll(db, userId);
    await db.insert(mfaRecoveryCodes).values(codeHashes.map((codeHash) => ({ userId, codeHash })));
  }

  /**
   * Marks an unused code of the user as used, in one statement: of concurrent uses of one code,
   * exactly one gets true.
   */
  async consume(db: Executor, userId: string, codeHash: Buffer, at: Date): Promise<boolean> {
    const used = await db
      .update(mfaRecoveryCodes)
      .set({ usedAt: at })
      .where(
        and(
          eq(mfaRecoveryCodes.userId, userId),
          eq(mfaRecoveryCodes.codeHash, codeHash),
          isNull(mfaRecoveryCodes.usedAt),
        ),
      )
      .returning({ userId: mfaRecoveryCodes.userId });
    return used.length === 1;
  }

  async countUnused(db: Executor, userId: string): Promise<number> {
    const [row] = await db
      .select({ unused: count() })
      .from(mfaRecoveryCodes)
      .where(and(eq(mfaRecoveryCodes.userId, userId), isNull(mfaRecoveryCodes.usedAt)));
    return Number(row?.unused ?? 0);
  }

  async deleteAll(db: Executor, userId: string): Promise<void> {
    await db.delete(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, userId));
  }
}
