import { Inject, Injectable } from '@nestjs/common';
import { eq } from 'drizzle-orm';
import { LRUCache } from 'lru-cache';
import { DATABASE } from '../database/database.module.js';
import { DATABASE_CONNECTION, type Database, type DatabaseConnection } from '../database/database.types.js';
import { sessions, users } from '../database/schema.js';

/** What authorising a request needs to know about its session and user, now. */
export interface SessionAuthState {
  userId: string;
  roles: string[];
  /** False once the session is revoked or its user disabled. */
  active: boolean;
  /** Absolute end of the session, ms since the epoch. */
  expiresAt: number;
}

/**
 * The current state behind an access token's session: checked on every
 * authenticated request, so that signout, revocation, disabling and role
 * changes apply on the very next request, not at token expiry.
 *
 * Served from memory where this process sees every change: on the embedded
 * database (one process holds DATA_DIR) each write here invalidates the
 * entry. With a shared PostgreSQL, other instances write too, so until
 * invalidations travel between instances every check goes to the database.
 * Callers only ever see `get` and the `invalidate*` methods.
 */
@Injectable()
export class AuthStateService {
  private readonly cache?: LRUCache<string, SessionAuthState>;
  /** Bumped by every invalidation: a read that raced one is not cached. */
  private generation = 0;

  constructor(
    @Inject(DATABASE) private readonly db: Database,
    @Inject(DATABASE_CONNECTION) connection: DatabaseConnection,
  ) {
    if (connection.driver === 'pglite') this.cache = new LRUCache({ max: 100_000 });
  }

  async get(sessionId: string): Promise<SessionAuthState | undefined> {
    const cached = this.cache?.get(sessionId);
    if (cached) return cached;
    const generation = this.generation;
    const [row] = await this.db
      .select({
        userId: sessions.userId,
        revokedAt: sessions.revokedAt,
        expiresAt: sessions.expiresAt,
        roles: users.roles,
        disabledAt: users.disabledAt,
      })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(eq(sessions.id, sessionId))
      .limit(1);
    if (!row) return undefined;
    const state: SessionAuthState = {
      userId: row.userId,
      roles: row.roles,
      active: row.revokedAt === null && row.disabledAt === null,
      expiresAt: row.expiresAt.getTime(),
    };
    if (generation === this.generation) this.cache?.set(sessionId, state);
    return state;
  }

  /** Call after committing a change to one session. */
  invalidateSession(sessionId: string): void {
    this.generation++;
    this.cache?.delete(sessionId);
  }

  /** Call after committing a change to a user or to several of its sessions. Rare: drops everything. */
  invalidateUser(_userId: string): void {
    this.generation++;
    this.cache?.clear();
  }
}
