import { Logger, Module } from '@nestjs/common';
import { getOptionsToken, getStorageToken } from '@nestjs/throttler';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { REDIS, RedisModule } from '../redis/redis.module.js';
import { type CounterStore, MemoryCounterStore, THROTTLE_COUNTERS } from './counter-store.js';
import { CounterThrottlerStorage } from './counter-throttler-storage.js';
import { FailoverCounterStore } from './failover-counter-store.js';
import { rateLimitOptions } from './rate-limit.guard.js';
import { RedisCounterStore } from './redis-counter-store.js';
import { SigninAttemptsService } from './signin-attempts.service.js';

/**
 * Rate limits and brute-force protection. The counters live in Redis when
 * REDIS_URL is set (shared by every instance; in memory while Redis is down)
 * and in memory otherwise. RateLimitGuard is registered as a global guard in
 * AppModule, before authentication's: the options and storage it needs are exported.
 */
@Module({
  imports: [RedisModule],
  providers: [
    {
      provide: THROTTLE_COUNTERS,
      inject: [REDIS, APP_CONFIG],
      useFactory: (redis: Redis | null, config: AppConfig): CounterStore =>
        new FailoverCounterStore(
          redis ? new RedisCounterStore(redis, { prefix: `${config.redisKeyPrefix}throttle:` }) : null,
          new MemoryCounterStore(),
          new Logger('Throttling'),
        ),
    },
    { provide: getOptionsToken(), inject: [APP_CONFIG], useFactory: rateLimitOptions },
    {
      provide: getStorageToken(),
      inject: [THROTTLE_COUNTERS],
      useFactory: (counters: CounterStore) => new CounterThrottlerStorage(counters),
    },
    SigninAttemptsService,
  ],
  exports: [SigninAttemptsService, THROTTLE_COUNTERS, getOptionsToken(), getStorageToken()],
})
export class ThrottlingModule {}
