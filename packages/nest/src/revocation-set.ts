/** One entry of Gatehouse's revocation feed. */
export interface Revocation {
  /** The session whose access tokens are no longer to be accepted. */
  sid: string;
  /** Its user. */
  sub: string;
  /** When it was revoked (ms since the epoch). */
  revokedAt: number;
  /** Until when a token of it could still be unexpired (ms since the epoch): the entry is dropped after. */
  until: number;
}

/** A feed entry as it travels (ISO-8601 times), checked: undefined when it is not one. */
export function parseRevocation(value: unknown): Revocation | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { sid, sub, revokedAt, until } = value as Record<string, unknown>;
  if (typeof sid !== 'string' || sid === '' || typeof sub !== 'string') return undefined;
  const revoked = typeof revokedAt === 'string' ? Date.parse(revokedAt) : NaN;
  const end = typeof until === 'string' ? Date.parse(until) : NaN;
  if (!Number.isFinite(revoked) || !Number.isFinite(end)) return undefined;
  return { sid, sub, revokedAt: revoked, until: end };
}

/**
 * The sessions revoked while tokens of theirs may still be unexpired, by
 * session id. An entry lives until its `until` (plus the clock leeway the
 * verifier grants `exp`), so the set stays as small as the revocations of one
 * access-token lifetime.
 */
export class RevocationSet {
  private readonly entries = new Map<string, Revocation>();
  private nextPrune = 0;

  constructor(
    /** Extra time an entry is kept past its `until`, in ms: the verifier's leeway on `exp`. */
    private readonly leewayMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  add(revocation: Revocation): void {
    const known = this.entries.get(revocation.sid);
    // Keep the widest: the latest `until` (a session revoked twice, say for a role change then a signout).
    if (known && known.until >= revocation.until) return;
    this.entries.set(revocation.sid, revocation);
  }

  /** Whether tokens of this session are refused now. */
  has(sid: string): boolean {
    const entry = this.entries.get(sid);
    if (!entry) return false;
    if (entry.until + this.leewayMs < this.now()) {
      this.entries.delete(sid);
      return false;
    }
    return true;
  }

  /** Drops the entries past their `until`; cheap to call often (runs at most once a second). */
  prune(): void {
    const now = this.now();
    if (now < this.nextPrune) return;
    this.nextPrune = now + 1_000;
    for (const [sid, entry] of this.entries) {
      if (entry.until + this.leewayMs < now) this.entries.delete(sid);
    }
  }
}
