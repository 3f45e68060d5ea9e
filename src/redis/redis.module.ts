import { Inject, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { Redis } from 'ioredis';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';

/** Injection token of the Redis client: an ioredis `Redis` when REDIS_URL is set, else `null`. */
export const REDIS = Symbol('REDIS');

/** How long start-up waits for the first connection before going on without it. */
const FIRST_CONNECT_WAIT_MS = 2_000;

/**
 * A client that never crashes the process: errors are logged (once per
 * outage), commands fail at once while disconnected (no offline queue) or
 * after a short timeout, and it reconnects by itself, forever.
 */
export async function connectRedis(url: string, logger = new Logger('Redis')): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 2_000,
    commandTimeout: 500,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  // The URL may carry a password: only the error message is logged.
  let outage = false;
  redis.on('error', (error: Error) => {
    if (outage) return;
    outage = true;
    logger.warn(`Redis connection failed (${error.message}); reconnecting in the background`);
  });
  redis.on('ready', () => {
    if (!outage) return;
    outage = false;
    logger.log('Redis connection restored');
  });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    redis.connect().catch(() => {}), // failure already logged by the 'error' listener
    new Promise((resolve) => (timer = setTimeout(resolve, FIRST_CONNECT_WAIT_MS))),
  ]).finally(() => clearTimeout(timer));
  return redis;
}

/** Provides REDIS to the modules that import it; closes the connection when the application shuts down. */
@Module({
  providers: [
    {
      provide: REDIS,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): Promise<Redis | null> | null =>
        config.redisUrl ? connectRedis(config.redisUrl) : null,
    },
  ],
  exports: [REDIS],
})
export class RedisModule implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis | null) {}

  async onApplicationShutdown(): Promise<void> {
    const redis = this.redis;
    if (!redis) return;
    if (redis.status === 'ready') {
      await redis.quit().catch(() => redis.disconnect());
    } else {
      redis.disconnect();
    }
  }
}
