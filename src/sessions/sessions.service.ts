import { Inject, Injectable } from '@nestjs/common';
import { v7 as uuidv7 } from 'uuid';
import type { Principal } from '../access/principal.js';
import type { PageQuery } from '../common/pagination/keyset.js';
import { AuditService } from '../audit/audit.service.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { ApiError } from '../common/errors/api-error.js';
import { DATABASE } from '../database/database.module.js';
import type { Database, Executor, Transaction } from '../database/database.types.js';
import type { Session } from '../database/schema.js';
import { type RevokeReason, SessionsRepository } from '../database/sessions.repository.js';
import { generateRefreshToken, hashRefreshToken, looksLikeRefreshToken } from './refresh-token.js';
import { AuthStateService } from './auth-state.service.js';
import type { ClientInfo } from '../common/http/client-info.js';
import type { SessionView } from './session.schemas.js';

export interface OpenedSession {
  sessionId: string;
  refreshToken: string;
  /** The session's absolute end (SESSION_MAX_AGE after its signin): no refresh token outlives it. */
  expiresAt: Date;
}

/** A session opened by a signin, and the sessions it ended to stay within MAX_SESSIONS_PER_USER. */
export interface SigninSession extends OpenedSession {
  /** Ids of the sessions ended; the caller invalidates them after commit (endedByLimit). */
  ended: string[];
}

export interface RotatedSession extends OpenedSession {
  userId: string;
  roles: string[];
  /** How the session's signin authenticated: the access token's `amr`. */
  amr: string[];
}

/** RFC 8176 authentication methods: a password; a password and a one-time code (TOTP or recovery code). */
export type Amr = ['pwd'] | ['pwd', 'otp'];

type RefreshOutcome =
  { kind: 'ok'; result: RotatedSession } | { kind: 'invalid' } | { kind: 'reused'; sessionId: string };

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
    private readonly authState: AuthStateService,
    private readonly audit: AuditService,
    private readonly repository: SessionsRepository,
  ) {}

  /**
   * Opens a session for a signin inside the caller's transaction, which holds
   * the user's row locked against other signins (FOR NO KEY UPDATE): beyond
   * MAX_SESSIONS_PER_USER live sessions, the least recently used ones end
   * (revoked, as any revocation: refresh tokens dead, access tokens refused
   * on every instance once the transaction commits), each audited. The
   * caller passes `ended` to endedByLimit after commit.
   */
  async openWithinLimit(
    tx: Executor,
    userId: string,
    client: ClientInfo,
    amr: Amr = ['pwd'],
  ): Promise<SigninSession> {
    const opened = await this.open(tx, userId, client, amr);
    const now = new Date();
    const ended = await this.repository.revokeBeyond(
      tx,
      userId,
      this.config.session.maxPerUser,
      now,
      new Date(now.getTime() - this.config.session.idleTimeout * 1000),
      'session_limit',
    );
    for (const sessionId of ended) {
      await this.audit.record(tx, {
        type: 'session_revoked',
        userId,
        actorId: null, // the service, applying MAX_SESSIONS_PER_USER
        client,
        detail: {
          sessionId,
          reason: 'session_limit',
          limit: this.config.session.maxPerUser,
          newSessionId: opened.sessionId,
        },
      });
    }
    return { ...opened, ended };
  }

  /** Call after the transaction of openWithinLimit committed. */
  endedByLimit(ended: string[]): void {
    for (const sessionId of ended) this.authState.invalidateSession(sessionId);
  }

  /** Opens a session for a user inside the caller's transaction. */
  async open(tx: Executor, userId: string, client: ClientInfo, amr: Amr = ['pwd']): Promise<OpenedSession> {
    const sessionId = uuidv7();
    const now = new Date();
    const expiresAt = new Date(now.getTime() + this.config.session.maxAge * 1000);
    await this.repository.insert(tx, {
      id: sessionId,
      userId,
      createdAt: now,
      lastUsedAt: now,
      expiresAt,
      userAgent: client.userAgent,
      ip: client.ip,
      amr,
    });
    const refreshToken = await this.addRefreshToken(tx, sessionId, 0);
    return { sessionId, refreshToken, expiresAt };
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
    const outcome = await this.db.transaction((tx) => this.rotate(tx, tokenHash, client));
    if (outcome.kind === 'invalid') throw invalidRefreshToken();
    if (outcome.kind === 'reused') {
      // Committed: the revocation stands although this request fails.
      this.authState.invalidateSession(outcome.sessionId);
      throw new ApiError(
        'refresh_token_reused',
        'This refresh token was already used; the session has been revoked. Sign in again.',
      );
    }
    return outcome.result;
  }

  /** The refresh's transaction: find the token, lock its session, apply the verdict. */
  private async rotate(tx: Transaction, tokenHash: Buffer, client: ClientInfo): Promise<RefreshOutcome> {
    const token = await this.repository.findRefreshToken(tx, tokenHash);
    if (!token) return { kind: 'invalid' };
    const row = await this.repository.lockWithUser(tx, token.sessionId);
    const now = Date.now();
    if (!row || row.disabledAt !== null || !this.isLive(row.session, now)) return { kind: 'invalid' };
    const { session } = row;
    const current = session.refreshGeneration;
    const verdict = this.verdict(session, token.generation, now);
    if (verdict === 'reuse') {
      await this.repository.revoke(tx, session.id, 'refresh_token_reused', new Date(now));
      await this.audit.record(tx, {
        type: 'refresh_token_reused',
        userId: session.userId,
        actorId: null, // whoever presented the retired token was not authenticated
        client,
        detail: { sessionId: session.id, generation: token.generation, currentGeneration: current },
      });
      return { kind: 'reused', sessionId: session.id };
    }
    const generation = verdict === 'rotate' ? current + 1 : current;
    if (verdict === 'rotate') await this.repository.markRotated(tx, session.id, generation, new Date(now));
    else await this.repository.markUsed(tx, session.id, new Date(now));
    const next = await this.addRefreshToken(tx, session.id, generation);
    return {
      kind: 'ok',
      result: {
        sessionId: session.id,
        refreshToken: next,
        expiresAt: session.expiresAt,
        userId: session.userId,
        roles: row.roles,
        amr: session.amr,
      },
    };
  }

  /** What presenting a refresh token of `generation` means now (see refresh). */
  private verdict(session: Session, generation: number, now: number): 'rotate' | 'sibling' | 'reuse' {
    const current = session.refreshGeneration;
    if (generation === current) return 'rotate';
    const inGrace =
      generation === current - 1 &&
      session.rotatedAt !== null &&
      // Strictly less: REFRESH_REUSE_GRACE=0 means no grace at all, even for a reuse in the same
      // millisecond as the rotation (or one the database's clock puts before it).
      now - session.rotatedAt.getTime() < this.config.session.reuseGrace * 1000;
    return inGrace ? 'sibling' : 'reuse';
  }

  /** One page of the caller's sessions that can still be used, newest first. */
  async listActive(principal: Principal, query: PageQuery): Promise<SessionView[]> {
    const idleMs = this.config.session.idleTimeout * 1000;
    const now = new Date();
    const sessions = await this.repository.pageLive(
      this.db,
      principal.userId,
      now,
      new Date(now.getTime() - idleMs),
      query,
    );
    return sessions.map((session) => ({
      id: session.id,
      createdAt: session.createdAt.toISOString(),
      lastUsedAt: session.lastUsedAt.toISOString(),
      expiresAt: new Date(
        Math.min(session.expiresAt.getTime(), session.lastUsedAt.getTime() + idleMs),
      ).toISOString(),
      userAgent: session.userAgent,
      ip: session.ip,
      current: session.id === principal.sessionId,
    }));
  }

  /** Signout: ends the caller's current session. */
  async signout(userId: string, sessionId: string, client: ClientInfo): Promise<void> {
    await this.db.transaction(async (tx) => {
      if (await this.repository.revokeOfUser(tx, userId, sessionId, 'signout')) {
        await this.audit.record(tx, { type: 'signout', userId, client, detail: { sessionId } });
      }
    });
    this.authState.invalidateSession(sessionId);
  }

  /**
   * Ends one of the user's own sessions; 404 when the user has no such live
   * session (another user's session id is indistinguishable from an unknown one).
   */
  async revokeOwn(userId: string, sessionId: string, client: ClientInfo): Promise<void> {
    const revoked = await this.db.transaction(async (tx) => {
      if (!(await this.repository.revokeOfUser(tx, userId, sessionId, 'revoked'))) return false;
      await this.audit.record(tx, { type: 'session_revoked', userId, client, detail: { sessionId } });
      return true;
    });
    if (!revoked) throw new ApiError('not_found', 'Session not found');
    this.authState.invalidateSession(sessionId);
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
    return this.repository.revokeAllOfUser(tx, userId, reason, keepSessionId);
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
    await this.repository.insertRefreshToken(tx, {
      tokenHash: hashRefreshToken(token),
      sessionId,
      generation,
    });
    return token;
  }
}

function invalidRefreshToken(): ApiError {
  return new ApiError('invalid_refresh_token', 'Refresh token is invalid, expired or revoked');
}
