import type { ThrottlerStorage } from '@nestjs/throttler';
import type { CounterStore } from './counter-store.js';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/**
 * @nestjs/throttler's storage over a CounterStore (Redis with in-memory
 * failover, or memory alone): a fixed window per key that starts at the
 * key's first hit and lasts `ttl`. Once the limit is passed, requests are
 * refused until that window ends (`blockDuration` is not used: the block
 * lasts as long as the window).
 */
export class CounterThrottlerStorage implements ThrottlerStorage {
  constructor(private readonly counters: CounterStore) {}

  async increment(key: string, ttl: number, limit: number): Promise<ThrottlerStorageRecord> {
    const { count, resetMs } = await this.counters.hit(`rate:${key}`, ttl);
    const seconds = Math.max(1, Math.ceil(resetMs / 1000));
    const isBlocked = count > limit;
    return { totalHits: count, timeToExpire: seconds, isBlocked, timeToBlockExpire: isBlocked ? seconds : 0 };
  }
}
