import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { DATABASE } from '../database/database.module.js';
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

/** The channel the database triggers of migration 0002 notify on every auth-relevant change. */
export const AUTH_CHANGE_CHANNEL = 'gatehouse_auth';

/**
 * The current state behind an access token's session: checked on every
 * authenticated request, so that signout, revocation, disabling and role
 * changes apply on the very next request, not at token expiry.
 *
 * Served from memory only while this process is sure to hear of every change:
 * other instances write too, so database triggers NOTIFY each change at
 * commit and this process LISTENs (on the embedded server as on a shared
 * one: one code path). While that connection is down, nothing is cached and
 * every check reads the database (fail safe); when it is back, the cache
 * starts empty, so a missed message cannot leave a revoked session alive.
 * Callers only ever see `get` and the `invalidate*` methods.
 */
@Injectable()
export class AuthStateService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(AuthStateService.name);
  private readonly cache = new LRUCache<string, SessionAuthState>({ max: 100_000 });
  /** Whether the cache may be used now. */
  private caching = false;
  /** Bumped by every invalidation: a read that raced one is not cached. */
  private generation = 0;
  private stopListening?: () => Promise<void>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(DATABASE) private readonly db: Database,
    @Inject(DATABASE_CONNECTION) private readonly connection: DatabaseConnection,
    private readonly sessions: SessionsRepository,
  ) {}

  onModuleInit(): void {
    this.stopListening = this.connection.listen(AUTH_CHANGE_CHANNEL, {
      onNotification: (payload) => this.onNotification(payload),
      onListening: () => {
        this.clear();
        this.caching = true;
        this.logger.log('listening for auth changes; caching session state');
      },
      onLost: () => {
        this.caching = false;
        this.clear();
        this.logger.warn('lost the auth-change channel; checking every request against the database');
      },
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.stopListening?.();
  }

  /** Whether session state is served from memory now (for health and tests). */
  get cachingEnabled(): boolean {
    return this.caching;
  }

  async get(sessionId: string): Promise<SessionAuthState | undefined> {
    if (this.caching) {
      const cached = this.cache.get(sessionId);
      // A refresh moves the idle end without notifying (it changes no auth-relevant column):
      // a cached state that looks idle-expired is read again before it is believed.
      if (cached && cached.idleExpiresAt > Date.now()) return cached;
    }
    const generation = this.generation;
    const row = await this.sessions.authState(this.db, sessionId);
    if (!row) return undefined;
    const state: SessionAuthState = {
      userId: row.userId,
      roles: row.roles,
      email: row.email,
      emailVerified: row.emailVerifiedAt !== null,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
      active: row.revokedAt === null && row.disabledAt === null,
      expiresAt: row.expiresAt.getTime(),
      idleExpiresAt: row.lastUsedAt.getTime() + this.config.session.idleTimeout * 1000,
    };
    if (this.caching && generation === this.generation) this.cache.set(sessionId, state);
    return state;
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
    this.clear(); // unknown shape: be safe
  }
}
