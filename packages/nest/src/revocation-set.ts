import type { GatehousePrincipal } from './principal.js';

/** One event of Gatehouse's revocation feed (times in ms since the epoch). */
export interface Revocation {
  /** The session concerned; null for a deleted service client (then `sub` is the client id). */
  sid: string | null;
  sub: string;
  revokedAt: number;
  /** When every token the event concerns has expired: the event is forgotten after. */
  until: number;
  /** Why: `signout`, `user_disabled`, `roles_changed`, `client_deleted`, … (unknown ones count as revocations). */
  reason: string;
  /** With `roles_changed`: the user's roles now. */
  roles?: readonly string[];
}

/** A feed event as it travels (ISO-8601 times), checked: undefined when it is not one. */
export function parseRevocation(value: unknown): Revocation | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { sid, sub, revokedAt, until, reason, roles } = value as Record<string, unknown>;
  if (!(sid === null || (typeof sid === 'string' && sid !== '')) || typeof sub !== 'string' || sub === '') {
    return undefined;
  }
  const revoked = typeof revokedAt === 'string' ? Date.parse(revokedAt) : NaN;
  const end = typeof until === 'string' ? Date.parse(until) : NaN;
  if (!Number.isFinite(revoked) || !Number.isFinite(end)) return undefined;
  const why = typeof reason === 'string' ? reason : 'revoked';
  if (why === 'roles_changed') {
    // Without the roles now, the event cannot be applied as a role change: a revocation then (safe side).
    if (!Array.isArray(roles) || !roles.every((role) => typeof role === 'string')) {
      return { sid, sub, revokedAt: revoked, until: end, reason: 'revoked' };
    }
    return { sid, sub, revokedAt: revoked, until: end, reason: why, roles: [...roles] };
  }
  return { sid, sub, revokedAt: revoked, until: end, reason: why };
}

/** Why a verified token is refused now, if it is. */
export type Refusal = 'session_revoked' | 'roles_changed' | 'client_deleted';

interface SessionState {
  /** The session is over: every token of it is refused until then. */
  endedUntil?: number;
  /** The user's roles changed: a token of it with other roles is refused until `until`. */
  roles?: { now: ReadonlySet<string>; revokedAt: number; until: number };
}

/**
 * What the feed said, applied to tokens — Gatehouse's rules:
 * - a session's event (any reason but `roles_changed`): every token of that `sid` is refused;
 * - `roles_changed`: a token of that `sid` whose `roles` are not the roles now is refused (a token
 *   refreshed since carries them); the latest such event wins, and never lifts a revocation;
 * - `client_deleted` (`sid: null`): every token of the client `sub` is refused.
 * Each event is kept until its `until` (plus the verifier's leeway on `exp`), so the set holds
 * the events of one access-token lifetime. Applying an event twice changes nothing.
 */
export class RevocationSet {
  private readonly sessions = new Map<string, SessionState>();
  private readonly clients = new Map<string, number>();
  private nextPrune = 0;

  constructor(
    /** Extra time an event is kept past its `until`, in ms: the verifier's leeway on `exp`. */
    private readonly leewayMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.sessions.size + this.clients.size;
  }

  apply(event: Revocation): void {
    if (event.sid === null) {
      this.clients.set(event.sub, Math.max(event.until, this.clients.get(event.sub) ?? 0));
      return;
    }
    const state = this.sessions.get(event.sid) ?? {};
    if (event.reason === 'roles_changed' && event.roles) {
      // Replays may come out of order: the latest change holds.
      if (!state.roles || state.roles.revokedAt <= event.revokedAt) {
        state.roles = { now: new Set(event.roles), revokedAt: event.revokedAt, until: event.until };
      }
    } else {
      state.endedUntil = Math.max(event.until, state.endedUntil ?? 0);
    }
    this.sessions.set(event.sid, state);
  }

  /** Why this verified token must be refused now; undefined when the feed said nothing against it. */
  refusal(principal: GatehousePrincipal): Refusal | undefined {
    const now = this.now() - this.leewayMs;
    if (principal.sessionId === undefined) {
      const until = principal.clientId === undefined ? undefined : this.clients.get(principal.clientId);
      return until !== undefined && until >= now ? 'client_deleted' : undefined;
    }
    const state = this.sessions.get(principal.sessionId);
    if (!state) return undefined;
    if (state.endedUntil !== undefined && state.endedUntil >= now) return 'session_revoked';
    const roles = state.roles;
    if (roles && roles.until >= now && !sameSet(principal.roles, roles.now)) return 'roles_changed';
    return undefined;
  }

  /** Drops the events past their `until`; cheap to call often (runs at most once a second). */
  prune(): void {
    const wall = this.now();
    if (wall < this.nextPrune) return;
    this.nextPrune = wall + 1_000;
    const now = wall - this.leewayMs;
    for (const [sid, state] of this.sessions) {
      if (state.endedUntil !== undefined && state.endedUntil < now) delete state.endedUntil;
      if (state.roles && state.roles.until < now) delete state.roles;
      if (state.endedUntil === undefined && !state.roles) this.sessions.delete(sid);
    }
    for (const [client, until] of this.clients) if (until < now) this.clients.delete(client);
  }
}

function sameSet(roles: readonly string[], now: ReadonlySet<string>): boolean {
  const token = new Set(roles);
  if (token.size !== now.size) return false;
  for (const role of token) if (!now.has(role)) return false;
  return true;
}
