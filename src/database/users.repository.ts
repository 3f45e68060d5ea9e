import { Injectable } from '@nestjs/common';
import { and, asc, eq, isNull, like, sql } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import type { PageQuery } from '../common/pagination/keyset.js';
import type { Executor, Transaction } from './database.types.js';
import { keysetPage } from './keyset-page.js';
import { postgresErrorCode, UNIQUE_VIOLATION } from './postgres-errors.js';
import { type User, users } from './schema.js';

/** Advisory lock key under which instances set up the first admin one at a time. */
const FIRST_ADMIN_LOCK = 0x6164_6d6e; // "admn"

/** Row locks a user can be read under: see PostgreSQL's "Row-Level Locks". */
export type UserLock = 'update' | 'no key update' | 'share';

/** Escapes LIKE's wildcards so that `%` and `_` in a prefix match themselves. */
function likePrefix(prefix: string): string {
  return prefix.toLowerCase().replace(/[\\%_]/g, (char) => `\\${char}`) + '%';
}

/** The SQL of the `users` table. Every method runs on the caller's executor (db or transaction). */
@Injectable()
export class UsersRepository {
  async findById(db: Executor, id: string): Promise<User | undefined> {
    const [user] = await db.select().from(users).where(eq(users.id, id)).limit(1);
    return user;
  }

  /** Case-insensitive, served by the unique index on lower(email). */
  async findByEmail(db: Executor, email: string): Promise<User | undefined> {
    const [user] = await db
      .select()
      .from(users)
      .where(sql`lower(${users.email}) = lower(${email})`)
      .limit(1);
    return user;
  }

  /** Reads the row and locks it until the transaction ends. */
  async lockById(tx: Transaction, id: string, lock: UserLock): Promise<User | undefined> {
    const [user] = await tx.select().from(users).where(eq(users.id, id)).for(lock).limit(1);
    return user;
  }

  /**
   * Locks every active admin's row, in id order (so that two transactions
   * queue instead of deadlocking), and returns their ids.
   */
  async lockActiveAdminIds(tx: Transaction, adminRole: string): Promise<Set<string>> {
    const rows = await tx
      .select({ id: users.id })
      .from(users)
      .where(and(sql`${adminRole} = any(${users.roles})`, isNull(users.disabledAt)))
      .orderBy(asc(users.id))
      .for('update');
    return new Set(rows.map((row) => row.id));
  }

  /** Whether any account has `adminRole` and is not disabled. */
  async hasActiveAdmin(db: Executor, adminRole: string): Promise<boolean> {
    const rows = await db
      .select({ id: users.id })
      .from(users)
      .where(and(sql`${adminRole} = any(${users.roles})`, isNull(users.disabledAt)))
      .limit(1);
    return rows.length > 0;
  }

  /** Serialises first-admin set-up across instances until the transaction ends. */
  async lockFirstAdminSetUp(tx: Transaction): Promise<void> {
    await tx.execute(sql`select pg_advisory_xact_lock(${FIRST_ADMIN_LOCK})`);
  }

  /** One page, newest first, optionally of emails starting with a prefix (any case). */
  async page(db: Executor, query: PageQuery & { email?: string }): Promise<User[]> {
    const page = keysetPage(users, query);
    return db
      .select()
      .from(users)
      .where(page.where(query.email ? like(sql`lower(${users.email})`, likePrefix(query.email)) : undefined))
      .orderBy(...page.orderBy)
      .limit(page.limit);
  }

  /** Inserts a user; undefined when the email exists already, in any case. */
  async insert(
    db: Executor,
    input: { email: string; passwordHash: string; roles: string[] },
  ): Promise<User | undefined> {
    try {
      const [user] = await db
        .insert(users)
        .values({ id: uuidv7(), ...input })
        .returning();
      return user;
    } catch (error) {
      if (postgresErrorCode(error) === UNIQUE_VIOLATION) return undefined;
      throw error;
    }
  }

  async setPasswordHash(db: Executor, id: string, passwordHash: string): Promise<void> {
    await db.update(users).set({ passwordHash, updatedAt: new Date() }).where(eq(users.id, id));
  }

  /** Turns MFA on (a time) or off (null). */
  async setMfaEnabledAt(db: Executor, id: string, mfaEnabledAt: Date | null): Promise<void> {
    await db.update(users).set({ mfaEnabledAt, updatedAt: new Date() }).where(eq(users.id, id));
  }

  /** Sets the password (a reset): proven to read the mail, the address counts as verified too. */
  async setPasswordHashAndVerify(db: Executor, id: string, passwordHash: string): Promise<void> {
    await db
      .update(users)
      .set({
        passwordHash,
        emailVerifiedAt: sql`coalesce(${users.emailVerifiedAt}, now())`,
        updatedAt: new Date(),
      })
      .where(eq(users.id, id));
  }

  /** Marks the email verified, unless it is already; true when it changed. */
  async markEmailVerified(db: Executor, id: string): Promise<boolean> {
    const rows = await db
      .update(users)
      .set({ emailVerifiedAt: sql`now()`, updatedAt: new Date() })
      .where(and(eq(users.id, id), isNull(users.emailVerifiedAt)))
      .returning({ id: users.id });
    return rows.length > 0;
  }

  /**
   * Sets a new, verified email; false when another account has it (any case).
   * A unique violation aborts the caller's transaction: it must end it.
   */
  async changeEmail(db: Executor, id: string, email: string): Promise<boolean> {
    try {
      await db
        .update(users)
        .set({ email, emailVerifiedAt: sql`now()`, updatedAt: new Date() })
        .where(eq(users.id, id));
      return true;
    } catch (error) {
      if (postgresErrorCode(error) === UNIQUE_VIOLATION) return false;
      throw error;
    }
  }

  /** Sets roles and disabledAt; returns the new row. */
  async setRolesAndStatus(
    db: Executor,
    id: string,
    change: { roles: string[]; disabledAt: Date | null },
  ): Promise<User | undefined> {
    const [user] = await db
      .update(users)
      .set({ ...change, updatedAt: new Date() })
      .where(eq(users.id, id))
      .returning();
    return user;
  }

  /** Deletes the row; its sessions and refresh tokens go with it (ON DELETE CASCADE). */
  async delete(db: Executor, id: string): Promise<void> {
    await db.delete(users).where(eq(users.id, id));
  }
}
