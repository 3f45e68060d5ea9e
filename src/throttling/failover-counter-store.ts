import type { CounterStore, Reservation, WindowCount } from './counter-store.js';

/** The shared store, as the failover sees it: a CounterStore that can tell whether it is connected. */
export interface SharedCounterStore extends CounterStore {
  readonly connected: boolean;
}

export interface FailoverLogger {
  warn(message: string): void;
  log(message: string): void;
}

/** After a failed Redis call on a live connection, calls go to memory for this long before Redis is tried again. */
export const RETRY_SHARED_AFTER_MS = 1_000;

/**
 * Uses the shared store (Redis) while it answers, and the in-memory one
 * while it does not: the service keeps limiting, per instance, during an
 * outage. Says so in the log once when the outage starts and once when Redis
 * answers again. Counts kept in memory meanwhile are not carried over.
 */
export class FailoverCounterStore implements CounterStore {
  private down = false;
  private retryAt = 0;

  constructor(
    private readonly shared: SharedCounterStore | null,
    private readonly memory: CounterStore,
    private readonly logger: FailoverLogger,
    private readonly now: () => number = Date.now,
  ) {}

  /** True while counters are shared by every instance (false without Redis, or while it is down). */
  get usingShared(): boolean {
    return this.shared !== null && !this.down;
  }

  hit(key: string, windowMs: number): Promise<WindowCount> {
    return this.use((store) => store.hit(key, windowMs));
  }

  reserve(key: string, id: string, windowMs: number, max: number): Promise<Reservation> {
    return this.use((store) => store.reserve(key, id, windowMs, max));
  }

  release(key: string, id: string): Promise<void> {
    return this.use((store) => store.release(key, id));
  }

  clear(key: string): Promise<void> {
    return this.use((store) => store.clear(key));
  }

  private async use<T>(operation: (store: CounterStore) => Promise<T>): Promise<T> {
    const shared = this.shared;
    if (shared) {
      if (!shared.connected) {
        // Disconnected: commands would fail at once; used again as soon as it reconnects.
        this.markDown('not connected');
      } else if (this.now() >= this.retryAt) {
        try {
          const result = await operation(shared);
          this.markUp();
          return result;
        } catch (error) {
          // Connected but failing (e.g. timing out): leave it alone for a moment.
          this.retryAt = this.now() + RETRY_SHARED_AFTER_MS;
          this.markDown(error instanceof Error ? error.message : String(error));
        }
      }
    }
    return operation(this.memory);
  }

  private markDown(reason: string): void {
    if (this.down) return;
    this.down = true;
    this.logger.warn(
      `Redis unavailable (${reason}): rate limits and signin failure counts are kept in memory, ` +
        'per instance, until it answers again',
    );
  }

  private markUp(): void {
    if (!this.down) return;
    this.down = false;
    this.logger.log('Redis answers again: rate limits and signin failure counts are shared again');
  }
}
