import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { DATABASE } from '../database/database.module.js';
import { LISTEN_TRUST_WINDOW_MS } from '../database/database.connection.js';
import { DATABASE_CONNECTION, type Database, type DatabaseConnection } from '../database/database.types.js';
import { SessionsRepository } from '../database/sessions.repository.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';

/** What authorising a request needs to know about its session and user, now. */
export interface SessionAuthState {
  userId: string;
  roles: string[];
  /** What /users/me shows, so that it needs no query of its own. */
  email: string;
  mfaEnabled: boolean;
  emailVerified: boolean;
  createdAt: Date;
  updatedAt: Date;
  /** False once the session is revoked or its user disabled. */
  active: boolean;
  /** Absolute end of the session, ms since the epoch. */
  expiresAt: number;
  /**
   * Idle end of the session, ms since the epoch: its last signin or refresh
   * plus SESSION_IDLE_TIMEOUT (the contract: a session ends after that long
   * "without a refresh"; using an access token does not keep it alive).
   */
  idleExpiresAt: number;
}

/** The channel the database triggers of migrations 0002 and 0010 notify on every auth-relevant change. */
export const AUTH_CHANGE_CHANNEL = 'gatehouse_auth';

interface CachedState {
  state: SessionAuthState;
  /** When the read that produced it started (performance.now()): its age counts from there. */
  readAt: number;
}

/**
 * The current state behind an access token's session: checked on every
 * authenticated request, so that signout, revocation, disabling and role
 * changes apply on the very next request, not at token expiry.
 *
 * Other instances write too, so database triggers NOTIFY each change at
 * commit and this process LISTENs (on the embedded server as on a shared
 * one: one code path). A cached state is served only when all of these hold,
 * and otherwise read again from the database (never refused for it):
 * - the channel is up. While it is down nothing is cached; when it is back,
 *   the cache starts empty, so a message missed meanwhile cannot matter;
 * - the channel has proved, less than LISTEN_TRUST_WINDOW_MS ago, that it
 *   delivered every change committed before the proof (a heartbeat): a
 *   connection that dies without a word hides a change for less than that;
 * - the state was read less than SESSION_CACHE_TTL ago: whatever notification
 *   is missed nonetheless (a change no trigger sees, a message lost on the
 *   way) is outlived by that bound at most.
 * Callers only ever see `get` and the `invalidate*` methods.
 */
@Injectable()
export class AuthStateService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(AuthStateService.name);
  private readonly cache = new LRUCache<string, CachedState>({ max: 100_000 });
  private readonly ttlMs: number;
  /** Whether the channel is up (then states are cached). */
  private caching = false;
  /** The channel's latest proof (performance.now()): every change committed before it was heard. */
  private heardAt = -Infinity;
  /** Bumped by every invalidation: a read that raced one is not cached. */
  private generation = 0;
  private stopListening?: () => Promise<void>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(DATABASE) private readonly db: Database,
    @Inject(DATABASE_CONNECTION) private readonly connection: DatabaseConnection,
    private readonly sessions: SessionsRepository,
  ) {
    this.ttlMs = config.session.cacheTtl * 1000;
  }

  onModuleInit(): void {
    this.stopListening = this.connection.listen(AUTH_CHANGE_CHANNEL, {
      onNotification: (payload) => this.onNotification(payload),
      onListening: () => {
        this.clear();
        // Empty now, so nothing cached can be older than this; proofs extend it.
        this.heardAt = performance.now();
        this.caching = this.ttlMs > 0;
        this.logger.log(
          this.caching
            ? 'listening for auth changes; caching session state'
            : 'listening for auth changes; SESSION_CACHE_TTL is 0: no session state cached',
        );
      },
      onLost: () => {
        this.caching = false;
        this.clear();
        this.logger.warn('lost the auth-change channel; checking every request against the database');
      },
      onHeard: (sentAt) => {
        this.heardAt = Math.max(this.heardAt, sentAt);
      },
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.stopListening?.();
  }

  /** Whether session state may be served from memory now (for health and tests). */
  get cachingEnabled(): boolean {
    return this.caching && performance.now() - this.heardAt < LISTEN_TRUST_WINDOW_MS;
  }

  async get(sessionId: string): Promise<SessionAuthState | undefined> {
    const cached = this.cachingEnabled ? this.cache.get(sessionId) : undefined;
    // A refresh moves the idle end without notifying (it changes no auth-relevant column):
    // a cached state that looks idle-expired is read again before it is believed.
    if (cached && performance.now() - cached.readAt < this.ttlMs && cached.state.idleExpiresAt > Date.now()) {
      return cached.state;
    }
    const generation = this.generation;
    const readAt = performance.now();
    const row = await this.sessions.authState(this.db, sessionId);
    if (!row) return undefined;
    const state: SessionAuthState = {
      userId: row.userId,
      roles: row.roles,
      email: row.email,
      mfaEnabled: row.mfaEnabledAt !== null,
      emailVerified: row.emailVerifiedAt !== null,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
      active: row.revokedAt === null && row.disabledAt === null,
      expiresAt: row.expiresAt.getTime(),
      idleExpiresAt: row.lastUsedAt.getTime() + this.config.session.idleTimeout * 1000,
    };
    // Cached even while no recent proof allows serving it: serving checks again (the state was
    // current at readAt, and every change after it is heard or bounded like any other).
    if (this.caching && generation === this.generation) this.cache.set(sessionId, { state, readAt });
    return state;
  }

  /**
   * The session's state if it is live for `userId` now: not revoked, its user not disabled, and
   * before its absolute and idle ends. Undefined otherwise. What every token check asks.
   */
  async live(sessionId: string, userId: string): Promise<SessionAuthState | undefined> {
    const state = await this.get(sessionId);
    const now = Date.now();
    const live =
      state?.active && state.userId === userId && state.expiresAt > now && state.idleExpiresAt > now;
    return live ? state : undefined;
  }

  /** Call after committing a change to one session. */
  invalidateSession(sessionId: string): void {
    this.generation++;
    this.cache.delete(sessionId);
  }

  /** Call after committing a change to a user or to several of its sessions. Rare: drops everything. */
  invalidateUser(_userId: string): void {
    this.clear();
  }

  private clear(): void {
    this.generation++;
    this.cache.clear();
  }

  private onNotification(payload: string): void {
    try {
      const change = JSON.parse(payload) as { session?: string; user?: string };
      if (typeof change.session === 'string') return this.invalidateSession(change.session);
      if (typeof change.user === 'string') return this.invalidateUser(change.user);
    } catch {
      // not ours
    }
    this.clear(); // a whole table emptied ({"truncated": …}), or an unknown shape: drop everything
  }
}
