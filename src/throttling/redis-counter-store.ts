import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { CounterStore, Reservation, WindowCount } from './counter-store.js';

/** The prefix of every key the service's counters use in Redis. */
export const DEFAULT_REDIS_KEY_PREFIX = 'gatehouse:throttle:';

/** A Lua script, run by its SHA-1 (and loaded on the first NOSCRIPT). */
class LuaScript {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

// Times come from the Redis server's clock, so every instance counts on the same one.
const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS[1] counter; ARGV[1] window (ms). Returns {count, ms until the window ends}. */
const HIT = new LuaScript(`
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}`);

/**
 * KEYS[1] sorted set of attempts (score: time in ms); ARGV[1] window (ms),
 * ARGV[2] max, ARGV[3] attempt id. Returns {1, 0} when recorded, else
 * {0, ms until the oldest entry that keeps the count at max ages out}.
 */
const RESERVE = new LuaScript(`
${NOW_MS}
local window = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= max then
  local freeing = redis.call('ZRANGE', KEYS[1], count - max, count - max, 'WITHSCORES')
  return {0, tonumber(freeing[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return {1, 0}`);

/**
 * Counters in Redis, shared by every instance that uses the same Redis and
 * prefix. Each operation is one atomic script. Errors (Redis unreachable,
 * timed out) are thrown: FailoverCounterStore decides what to do then.
 */
export class RedisCounterStore implements CounterStore {
  private readonly prefix: string;

  /** `prefix` namespaces the keys (tests use a unique one per run). */
  constructor(
    private readonly redis: Redis,
    options: { prefix?: string } = {},
  ) {
    this.prefix = options.prefix ?? DEFAULT_REDIS_KEY_PREFIX;
  }

  /** Whether the connection is up (commands would fail at once otherwise). */
  get connected(): boolean {
    return this.redis.status === 'ready';
  }

  async hit(key: string, windowMs: number): Promise<WindowCount> {
    const [count, resetMs] = await this.run(HIT, this.prefix + key, [String(windowMs)]);
    return { count, resetMs };
  }

  async reserve(key: string, id: string, windowMs: number, max: number): Promise<Reservation> {
    const [reserved, retryMs] = await this.run(RESERVE, this.prefix + key, [
      String(windowMs),
      String(max),
      id,
    ]);
    return reserved === 1 ? { reserved: true } : { reserved: false, retryMs };
  }

  async release(key: string, id: string): Promise<void> {
    await this.redis.zrem(this.prefix + key, id);
  }

  async clear(key: string): Promise<void> {
    await this.redis.del(this.prefix + key);
  }

  private async run(script: LuaScript, key: string, args: string[]): Promise<[number, number]> {
    let result: unknown;
    try {
      result = await this.redis.evalsha(script.sha, 1, key, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      result = await this.redis.eval(script.source, 1, key, ...args);
    }
    if (!Array.isArray(result) || result.length !== 2) {
      throw new Error('unexpected reply from a throttling script');
    }
    return [Number(result[0]), Number(result[1])];
  }
}
