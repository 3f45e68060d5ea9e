import { Inject, Injectable } from '@nestjs/common';
import { and, desc, eq, gt, isNull, ne } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import { AuditService } from '../audit/audit.service.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { ApiError } from '../common/errors/api-error.js';
import { DATABASE } from '../database/database.module.js';
import type { Database, Executor } from '../database/database.types.js';
import { refreshTokens, type Session, sessions, users } from '../database/schema.js';
import { generateRefreshToken, hashRefreshToken, looksLikeRefreshToken } from './refresh-token.js';
import { AuthStateService } from './auth-state.service.js';
import type { ClientInfo } from '../common/http/client-info.js';

export interface OpenedSession {
  sessionId: string;
  refreshToken: string;
}

export interface RotatedSession extends OpenedSession {
  userId: string;
  roles: string[];
}

type RefreshOutcome =
  { kind: 'ok'; result: RotatedSession } | { kind: 'invalid' } | { kind: 'reused'; sessionId: string };

export type RevokeReason =
  | 'signout'
  | 'signout_all'
  | 'revoked'
  | 'revoked_by_admin'
  | 'password_changed'
  | 'refresh_token_reused'
  | 'user_disabled';

/**
 * Sessions (one per signin) and their refresh tokens: opening, rotating,
 * listing and revoking. Every change that touches several rows runs in one
 * transaction; the in-memory auth state is invalidated after it commits.
 */
@Injectable()
export class SessionsService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(DATABASE) private readonly db: Database,
    @Inject(AuthStateService) private readonly authState: AuthStateService,
    @Inject(AuditService) private readonly audit: AuditService,
  ) {}

  /** Opens a session for a user inside the caller's transaction. */
  async open(tx: Executor, userId: string, client: ClientInfo): Promise<OpenedSession> {
    const sessionId = uuidv7();
    const now = new Date();
    await tx.insert(sessions).values({
      id: sessionId,
      userId,
      createdAt: now,
      lastUsedAt: now,
      expiresAt: new Date(now.getTime() + this.config.session.maxAge * 1000),
      userAgent: client.userAgent,
      ip: client.ip,
    });
    const refreshToken = await this.addRefreshToken(tx, sessionId, 0);
    return { sessionId, refreshToken };
  }

  /**
   * Rotates a refresh token (see the contract's "Rotation" and "Reuse
   * detection"). Generations make the rules exact:
   * - a token of the session's current generation rotates: the generation
   *   moves on and the new token is the only one of it;
   * - a token of the generation just before, within REFRESH_REUSE_GRACE of
   *   that rotation, gets a sibling of the current generation (parallel tabs,
   *   a lost response), and moves nothing on;
   * - any other known token is reuse: the whole session is revoked.
   * The session row is locked, so concurrent refreshes are applied one by one.
   */
  async refresh(refreshToken: string, client: ClientInfo): Promise<RotatedSession> {
    if (!looksLikeRefreshToken(refreshToken)) throw invalidRefreshToken();
    const tokenHash = hashRefreshToken(refreshToken);
    const outcome = await this.db.transaction(async (tx): Promise<RefreshOutcome> => {
      const [token] = await tx
        .select({ sessionId: refreshTokens.sessionId, generation: refreshTokens.generation })
        .from(refreshTokens)
        .where(eq(refreshTokens.tokenHash, tokenHash))
        .limit(1);
      if (!token) return { kind: 'invalid' };
      const [row] = await tx
        .select({ session: sessions, roles: users.roles, disabledAt: users.disabledAt })
        .from(sessions)
        .innerJoin(users, eq(users.id, sessions.userId))
        .where(eq(sessions.id, token.sessionId))
        .for('update', { of: sessions })
        .limit(1);
      const now = Date.now();
      if (!row || row.disabledAt !== null || !this.isLive(row.session, now)) return { kind: 'invalid' };
      const { session } = row;

      const current = session.refreshGeneration;
      const inGrace =
        token.generation === current - 1 &&
        session.rotatedAt !== null &&
        now - session.rotatedAt.getTime() <= this.config.session.reuseGrace * 1000;
      if (token.generation !== current && !inGrace) {
        await tx
          .update(sessions)
          .set({ revokedAt: new Date(now), revokedReason: 'refresh_token_reused' })
          .where(eq(sessions.id, session.id));
        await this.audit.record(tx, {
          type: 'refresh_token_reused',
          userId: session.userId,
          client,
          detail: { sessionId: session.id, generation: token.generation, currentGeneration: current },
        });
        return { kind: 'reused', sessionId: session.id };
      }

      const rotates = token.generation === current;
      const generation = rotates ? current + 1 : current;
      await tx
        .update(sessions)
        .set(
          rotates
            ? { refreshGeneration: generation, rotatedAt: new Date(now), lastUsedAt: new Date(now) }
            : { lastUsedAt: new Date(now) },
        )
        .where(eq(sessions.id, session.id));
      const next = await this.addRefreshToken(tx, session.id, generation);
      return {
        kind: 'ok',
        result: { sessionId: session.id, refreshToken: next, userId: session.userId, roles: row.roles },
      };
    });

    if (outcome.kind === 'invalid') throw invalidRefreshToken();
    if (outcome.kind === 'reused') {
      // Committed above: the revocation stands although this request fails.
      this.authState.invalidateSession(outcome.sessionId);
      throw new ApiError(
        'refresh_token_reused',
        'This refresh token was already used; the session has been revoked. Sign in again.',
      );
    }
    return outcome.result;
  }

  /** The user's sessions that can still be used, newest first. */
  async listActive(userId: string): Promise<Session[]> {
    const now = new Date();
    const idleCutoff = new Date(now.getTime() - this.config.session.idleTimeout * 1000);
    return this.db
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

  /** Signout: ends the caller's current session. */
  async signout(userId: string, sessionId: string, client: ClientInfo): Promise<void> {
    await this.db.transaction(async (tx) => {
      if (await this.revoke(tx, userId, sessionId, 'signout')) {
        await this.audit.record(tx, { type: 'signout', userId, client, detail: { sessionId } });
      }
    });
    this.authState.invalidateSession(sessionId);
  }

  /** Ends one of the user's own sessions; false when the user has no such live session. */
  async revokeOwn(userId: string, sessionId: string, client: ClientInfo): Promise<boolean> {
    const revoked = await this.db.transaction(async (tx) => {
      if (!(await this.revoke(tx, userId, sessionId, 'revoked'))) return false;
      await this.audit.record(tx, { type: 'session_revoked', userId, client, detail: { sessionId } });
      return true;
    });
    if (revoked) this.authState.invalidateSession(sessionId);
    return revoked;
  }

  /**
   * Ends every session of the user: the user's own "signout everywhere"
   * (actorId = userId) or an admin's (actorId = the admin).
   */
  async endAll(userId: string, actorId: string, client: ClientInfo): Promise<number> {
    const byAdmin = actorId !== userId;
    const count = await this.db.transaction(async (tx) => {
      const revoked = await this.revokeAll(tx, userId, byAdmin ? 'revoked_by_admin' : 'signout_all');
      await this.audit.record(tx, {
        type: byAdmin ? 'session_revoked' : 'signout_all',
        userId,
        actorId,
        client,
        detail: { sessions: revoked, all: true },
      });
      return revoked;
    });
    this.authState.invalidateUser(userId);
    return count;
  }

  /**
   * Revokes one live session of this user, inside the caller's transaction;
   * false when the user has no such session. The caller invalidates auth
   * state after commit.
   */
  async revoke(tx: Executor, userId: string, sessionId: string, reason: RevokeReason): Promise<boolean> {
    const revoked = await tx
      .update(sessions)
      .set({ revokedAt: new Date(), revokedReason: reason })
      .where(and(eq(sessions.id, sessionId), eq(sessions.userId, userId), isNull(sessions.revokedAt)))
      .returning({ id: sessions.id });
    return revoked.length > 0;
  }

  /**
   * Revokes every live session of the user except `keepSessionId`, inside the
   * caller's transaction; returns how many. The caller invalidates auth state
   * (invalidateUser) after commit.
   */
  async revokeAll(
    tx: Executor,
    userId: string,
    reason: RevokeReason,
    keepSessionId?: string,
  ): Promise<number> {
    const conditions = [eq(sessions.userId, userId), isNull(sessions.revokedAt)];
    if (keepSessionId) conditions.push(ne(sessions.id, keepSessionId));
    const revoked = await tx
      .update(sessions)
      .set({ revokedAt: new Date(), revokedReason: reason })
      .where(and(...conditions))
      .returning({ id: sessions.id });
    return revoked.length;
  }

  private isLive(session: Session, now: number): boolean {
    return (
      session.revokedAt === null &&
      session.expiresAt.getTime() > now &&
      session.lastUsedAt.getTime() + this.config.session.idleTimeout * 1000 > now
    );
  }

  private async addRefreshToken(tx: Executor, sessionId: string, generation: number): Promise<string> {
    const token = generateRefreshToken();
    await tx.insert(refreshTokens).values({ tokenHash: hashRefreshToken(token), sessionId, generation });
    return token;
  }
}

function invalidRefreshToken(): ApiError {
  return new ApiError('invalid_refresh_token', 'Refresh token is invalid, expired or revoked');
}
