import { LRUCache } from 'lru-cache';

/** Injection token of the throttling counters (Redis with in-memory failover, or memory alone). */
export const THROTTLE_COUNTERS = Symbol('THROTTLE_COUNTERS');

/** Result of counting one hit in a fixed window. */
export interface WindowCount {
  /** Hits in the current window, this one included. */
  count: number;
  /** Milliseconds until the window ends and the count starts again from zero. */
  resetMs: number;
}

/** Result of asking for one more attempt in a sliding window. */
export type Reservation = { reserved: true } | { reserved: false; retryMs: number };

/**
 * The counters the throttling needs, kept in memory (one instance) or in
 * Redis (shared by every instance). Keys are opaque strings; each store
 * namespaces them itself.
 */
export interface CounterStore {
  /**
   * Counts one hit in a fixed window that starts at the key's first hit and
   * lasts `windowMs` (the per-minute rate limit).
   */
  hit(key: string, windowMs: number): Promise<WindowCount>;
  /**
   * Sliding window of attempts (signin failures): when fewer than `max`
   * entries are younger than `windowMs`, records `id` and answers reserved;
   * otherwise records nothing and says how long until one entry ages out.
   */
  reserve(key: string, id: string, windowMs: number, max: number): Promise<Reservation>;
  /** Removes one entry recorded by `reserve` (the attempt did not count). */
  release(key: string, id: string): Promise<void>;
  /** Forgets the key entirely (a successful signin). */
  clear(key: string): Promise<void>;
}

/** How many keys the in-memory store holds at most; the least recently used go first. */
export const MEMORY_MAX_KEYS = 100_000;

interface WindowEntry {
  count: number;
  resetAt: number;
}

interface LogEntry {
  /** Recorded attempts, oldest first. */
  attempts: { at: number; id: string }[];
}

/**
 * Counters of one process: bounded (least recently used keys are dropped
 * beyond `maxKeys`) and expiring (an entry lives as long as its window).
 */
export class MemoryCounterStore implements CounterStore {
  private readonly windows: LRUCache<string, WindowEntry>;
  private readonly logs: LRUCache<string, LogEntry>;
  private readonly now: () => number;

  /** `now` is the clock (tests pass their own); `maxKeys` bounds each kind of counter. */
  constructor(options: { maxKeys?: number; now?: () => number } = {}) {
    this.now = options.now ?? Date.now;
    const max = options.maxKeys ?? MEMORY_MAX_KEYS;
    // lru-cache checks TTLs with its own clock, so expiry is checked here against `now` as well.
    this.windows = new LRUCache({ max, ttlAutopurge: false });
    this.logs = new LRUCache({ max, ttlAutopurge: false });
  }

  /** Keys held right now (expired ones included until they are touched or evicted). */
  get size(): number {
    return this.windows.size + this.logs.size;
  }

  async hit(key: string, windowMs: number): Promise<WindowCount> {
    const now = this.now();
    let entry = this.windows.get(key);
    if (!entry || entry.resetAt <= now) {
      entry = { count: 0, resetAt: now + windowMs };
      this.windows.set(key, entry, { ttl: windowMs });
    }
    entry.count += 1;
    return { count: entry.count, resetMs: entry.resetAt - now };
  }

  async reserve(key: string, id: string, windowMs: number, max: number): Promise<Reservation> {
    const now = this.now();
    const entry = this.logs.get(key) ?? { attempts: [] };
    entry.attempts = entry.attempts.filter((attempt) => attempt.at > now - windowMs);
    const count = entry.attempts.length;
    if (count >= max) {
      // The entry whose ageing out brings the count below max.
      const freeing = entry.attempts[count - max]!;
      return { reserved: false, retryMs: freeing.at + windowMs - now };
    }
    entry.attempts.push({ at: now, id });
    this.logs.set(key, entry, { ttl: windowMs });
    return { reserved: true };
  }

  async release(key: string, id: string): Promise<void> {
    const entry = this.logs.get(key);
    if (!entry) return;
    entry.attempts = entry.attempts.filter((attempt) => attempt.id !== id);
    if (entry.attempts.length === 0) this.logs.delete(key);
  }

  async clear(key: string): Promise<void> {
    this.logs.delete(key);
    this.windows.delete(key);
  }
}
