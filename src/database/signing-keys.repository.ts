import { Injectable } from '@nestjs/common';
import { asc, eq, sql } from 'drizzle-orm';
import type { Executor, Transaction } from './database.types.js';
import { type SigningKeyRow, signingKeys } from './schema.js';

/** Advisory lock key under which instances create the first key one at a time. */
const KEY_CREATION_LOCK = 0x6b65_7973; // "keys"

/** The SQL of the `signing_keys` table. Every method runs on the caller's executor (db or transaction). */
@Injectable()
export class SigningKeysRepository {
  /** The keys of one algorithm, revoked ones included, oldest activation first. */
  async listByAlg(db: Executor, alg: string): Promise<SigningKeyRow[]> {
    return db
      .select()
      .from(signingKeys)
      .where(sql`${signingKeys.alg} = ${alg}`)
      .orderBy(asc(signingKeys.activatesAt), asc(signingKeys.createdAt));
  }

  /** Serialises key creation across instances until the transaction ends. */
  async lockCreation(tx: Transaction): Promise<void> {
    await tx.execute(sql`select pg_advisory_xact_lock(${KEY_CREATION_LOCK})`);
  }

  /** Whether a key of this algorithm signs already, by the database's clock. */
  async hasActive(db: Executor, alg: string): Promise<boolean> {
    const active = await db
      .select({ kid: signingKeys.kid })
      .from(signingKeys)
      // clock_timestamp(), not now(): now() is when the transaction began, before it
      // waited for the creation lock, and would miss a key another instance just created.
      .where(
        sql`${signingKeys.alg} = ${alg} and ${signingKeys.activatesAt} <= clock_timestamp()
            and ${signingKeys.revokedAt} is null`,
      )
      .limit(1);
    return active.length > 0;
  }

  /** Inserts a key that activates at `activatesAt`, or at once ('now', by the database's clock). */
  async insert(
    db: Executor,
    key: Omit<SigningKeyRow, 'createdAt' | 'activatesAt' | 'revokedAt'> & { activatesAt: Date | 'now' },
  ): Promise<void> {
    await db.insert(signingKeys).values({
      ...key,
      activatesAt: key.activatesAt === 'now' ? sql`clock_timestamp()` : key.activatesAt,
    });
  }

  /** One key, its row locked until the transaction ends. */
  async lockOne(tx: Transaction, kid: string): Promise<SigningKeyRow | undefined> {
    const [row] = await tx.select().from(signingKeys).where(eq(signingKeys.kid, kid)).for('update').limit(1);
    return row;
  }

  /** Marks a key revoked (final: it neither signs, verifies nor is published any more). */
  async markRevoked(db: Executor, kid: string, at: Date): Promise<void> {
    await db.update(signingKeys).set({ revokedAt: at }).where(eq(signingKeys.kid, kid));
  }
}
