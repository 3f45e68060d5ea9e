import { Injectable } from '@nestjs/common';
import { and, desc, eq, gt, gte, inArray, isNull, lt, lte, ne } from 'drizzle-orm';
import type { PageQuery } from '../common/pagination/keyset.js';
import type { Executor, Transaction } from './database.types.js';
import { keysetPage } from './keyset-page.js';
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
  | 'session_limit'
  | 'signing_key_revoked'
  | 'mfa_enabled'
  | 'mfa_reset'
  | 'password_reset'
  | 'email_changed';

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
  lastUsedAt: Date;
  roles: string[];
  disabledAt: Date | null;
  mfaEnabledAt: Date | null;
  email: string;
  emailVerifiedAt: Date | null;
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
    session: Pick<
      Session,
      'id' | 'userId' | 'createdAt' | 'lastUsedAt' | 'expiresAt' | 'userAgent' | 'ip' | 'amr'
    >,
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

  /** One page of the user's sessions neither revoked nor past either end, newest first. */
  async pageLive(
    db: Executor,
    userId: string,
    now: Date,
    idleCutoff: Date,
    query: PageQuery,
  ): Promise<Session[]> {
    const page = keysetPage(sessions, query);
    return db
      .select()
      .from(sessions)
      .where(page.where(eq(sessions.userId, userId), live(now, idleCutoff)))
      .orderBy(...page.orderBy)
      .limit(page.limit);
  }

  /**
   * Revokes the user's live sessions beyond the `keep` most recently used
   * ones; returns their ids. The caller holds the user's row locked, so
   * concurrent signins of one user are counted one after the other.
   */
  async revokeBeyond(
    db: Executor,
    userId: string,
    keep: number,
    now: Date,
    idleCutoff: Date,
    reason: RevokeReason,
  ): Promise<string[]> {
    const surplus = db
      .select({ id: sessions.id })
      .from(sessions)
      .where(and(eq(sessions.userId, userId), live(now, idleCutoff)))
      .orderBy(desc(sessions.lastUsedAt), desc(sessions.createdAt), desc(sessions.id))
      .offset(keep);
    const revoked = await db
      .update(sessions)
      .set({ revokedAt: now, revokedReason: reason })
      .where(and(inArray(sessions.id, surplus), isNull(sessions.revokedAt)))
      .returning({ id: sessions.id });
    return revoked.map((row) => row.id);
  }

  /**
   * Deletes up to `batch` refresh tokens of sessions past their absolute end
   * (revoked or not); returns how many. A long session has one token per
   * rotation, so tokens go `batch` at a time before their sessions do.
   */
  async purgeRefreshTokensOfEnded(db: Executor, endedBefore: Date, batch: number): Promise<number> {
    const ended = db.select({ id: sessions.id }).from(sessions).where(lt(sessions.expiresAt, endedBefore));
    const doomed = db
      .select({ tokenHash: refreshTokens.tokenHash })
      .from(refreshTokens)
      .where(inArray(refreshTokens.sessionId, ended))
      .limit(batch);
    const gone = await db
      .delete(refreshTokens)
      .where(inArray(refreshTokens.tokenHash, doomed))
      .returning({ sessionId: refreshTokens.sessionId });
    return gone.length;
  }

  /**
   * Deletes up to `batch` sessions past their absolute end (revoked or not);
   * returns how many. Their refresh tokens cascade (none are left once
   * purgeRefreshTokensOfEnded found fewer than a batch).
   */
  async purgeEnded(db: Executor, endedBefore: Date, batch: number): Promise<number> {
    const doomed = db
      .select({ id: sessions.id })
      .from(sessions)
      .where(lt(sessions.expiresAt, endedBefore))
      .limit(batch);
    const gone = await db.delete(sessions).where(inArray(sessions.id, doomed)).returning({ id: sessions.id });
    return gone.length;
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
        lastUsedAt: sessions.lastUsedAt,
        roles: users.roles,
        disabledAt: users.disabledAt,
        mfaEnabledAt: users.mfaEnabledAt,
        email: users.email,
        emailVerifiedAt: users.emailVerifiedAt,
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

/** Neither revoked nor past its absolute end nor idle since before `idleCutoff`. */
function live(now: Date, idleCutoff: Date) {
  return and(isNull(sessions.revokedAt), gt(sessions.expiresAt, now), gt(sessions.lastUsedAt, idleCutoff));
}
