import { Injectable } from '@nestjs/common';
import { and, desc, eq, gt, gte, isNull, lte, ne } from 'drizzle-orm';
import type { Executor, Transaction } from './database.types.js';
import { refreshTokens, type Session, sessions, users } from './schema.js';

/** Why a session ended: stored in sessions.revoked_reason. */
export type RevokeReason =
  | 'signout'
  | 'signout_all'
  | 'revoked'
  | 'revoked_by_admin'
  | 'password_changed'
  | 'refresh_token_reused'
  | 'user_disabled'
  | 'signing_key_revoked';

/** A session with what a refresh needs to know of its user. */
export interface SessionWithUser {
  session: Session;
  roles: string[];
  disabledAt: Date | null;
}

/** What authorising a request reads: one row of sessions joined to users. */
export interface AuthStateRow {
  userId: string;
  revokedAt: Date | null;
  expiresAt: Date;
  roles: string[];
  disabledAt: Date | null;
  email: string;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * The SQL of the `sessions` table and of its `refresh_tokens`. Every method
 * runs on the caller's executor (db or transaction).
 */
@Injectable()
export class SessionsRepository {
  async insert(
    db: Executor,
    session: Pick<Session, 'id' | 'userId' | 'createdAt' | 'lastUsedAt' | 'expiresAt' | 'userAgent' | 'ip'>,
  ): Promise<void> {
    await db.insert(sessions).values(session);
  }

  async insertRefreshToken(
    db: Executor,
    token: { tokenHash: Buffer; sessionId: string; generation: number },
  ): Promise<void> {
    await db.insert(refreshTokens).values(token);
  }

  async findRefreshToken(
    db: Executor,
    tokenHash: Buffer,
  ): Promise<{ sessionId: string; generation: number } | undefined> {
    const [token] = await db
      .select({ sessionId: refreshTokens.sessionId, generation: refreshTokens.generation })
      .from(refreshTokens)
      .where(eq(refreshTokens.tokenHash, tokenHash))
      .limit(1);
    return token;
  }

  /** Reads a session and its user's status, locking the session row until the transaction ends. */
  async lockWithUser(tx: Transaction, sessionId: string): Promise<SessionWithUser | undefined> {
    const [row] = await tx
      .select({ session: sessions, roles: users.roles, disabledAt: users.disabledAt })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(eq(sessions.id, sessionId))
      .for('update', { of: sessions })
      .limit(1);
    return row;
  }

  /** Records a use of the session that keeps its refresh generation. */
  async markUsed(db: Executor, sessionId: string, at: Date): Promise<void> {
    await db.update(sessions).set({ lastUsedAt: at }).where(eq(sessions.id, sessionId));
  }

  /** Records a rotation: the session moves on to `generation`, and the previous one's grace starts. */
  async markRotated(db: Executor, sessionId: string, generation: number, at: Date): Promise<void> {
    await db
      .update(sessions)
      .set({ refreshGeneration: generation, rotatedAt: at, lastUsedAt: at })
      .where(eq(sessions.id, sessionId));
  }

  /** The user's sessions neither revoked nor past either end, newest first. */
  async listLive(db: Executor, userId: string, now: Date, idleCutoff: Date): Promise<Session[]> {
    return db
      .select()
      .from(sessions)
      .where(
        and(
          eq(sessions.userId, userId),
          isNull(sessions.revokedAt),
          gt(sessions.expiresAt, now),
          gt(sessions.lastUsedAt, idleCutoff),
        ),
      )
      .orderBy(desc(sessions.createdAt));
  }

  /** Revokes a session whatever its state (reuse detection). */
  async revoke(db: Executor, sessionId: string, reason: RevokeReason, at = new Date()): Promise<void> {
    await db.update(sessions).set({ revokedAt: at, revokedReason: reason }).where(eq(sessions.id, sessionId));
  }

  /** Revokes one unrevoked session of this user; false when there is none. */
  async revokeOfUser(
    db: Executor,
    userId: string,
    sessionId: string,
    reason: RevokeReason,
  ): Promise<boolean> {
    const revoked = await db
      .update(sessions)
      .set({ revokedAt: new Date(), revokedReason: reason })
      .where(and(eq(sessions.id, sessionId), eq(sessions.userId, userId), isNull(sessions.revokedAt)))
      .returning({ id: sessions.id });
    return revoked.length > 0;
  }

  /** Revokes every unrevoked session of the user except `keepSessionId`; returns how many. */
  async revokeAllOfUser(
    db: Executor,
    userId: string,
    reason: RevokeReason,
    keepSessionId?: string,
  ): Promise<number> {
    const conditions = [eq(sessions.userId, userId), isNull(sessions.revokedAt)];
    if (keepSessionId) conditions.push(ne(sessions.id, keepSessionId));
    const revoked = await db
      .update(sessions)
      .set({ revokedAt: new Date(), revokedReason: reason })
      .where(and(...conditions))
      .returning({ id: sessions.id });
    return revoked.length;
  }

  /**
   * Revokes every unrevoked, unexpired session that may have been given an
   * access token between `from` and `to`: access tokens are issued only at
   * signin (createdAt) and at each refresh (which moves lastUsedAt), so a
   * session opened after `to`, or last used before `from`, got none then.
   * Returns the sessions revoked.
   */
  async revokeIssuedBetween(
    db: Executor,
    from: Date,
    to: Date,
    reason: RevokeReason,
    at: Date,
  ): Promise<{ id: string; userId: string }[]> {
    return db
      .update(sessions)
      .set({ revokedAt: at, revokedReason: reason })
      .where(
        and(
          isNull(sessions.revokedAt),
          gt(sessions.expiresAt, at),
          lte(sessions.createdAt, to),
          gte(sessions.lastUsedAt, from),
        ),
      )
      .returning({ id: sessions.id, userId: sessions.userId });
  }

  /** The auth state behind a session id (see AuthStateService). */
  async authState(db: Executor, sessionId: string): Promise<AuthStateRow | undefined> {
    const [row] = await db
      .select({
        userId: sessions.userId,
        revokedAt: sessions.revokedAt,
        expiresAt: sessions.expiresAt,
        roles: users.roles,
        disabledAt: users.disabledAt,
        email: users.email,
        createdAt: users.createdAt,
        updatedAt: users.updatedAt,
      })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(eq(sessions.id, sessionId))
      .limit(1);
    return row;
  }
}
