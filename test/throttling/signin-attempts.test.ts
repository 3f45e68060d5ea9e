import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/app-config.js';
import { MemoryCounterStore } from '../../src/throttling/counter-store.js';
import { CounterThrottlerStorage } from '../../src/throttling/counter-throttler-storage.js';
import { SigninAttemptsService, signinKey } from '../../src/throttling/signin-attempts.service.js';

function service(env: Record<string, string>, now = () => 0) {
  const config = loadConfig({ DATA_DIR: '/tmp/unused', ...env });
  return new SigninAttemptsService(config, new MemoryCounterStore({ now }));
}

async function fail(attempts: SigninAttemptsService, email: string, ip: string, times: number) {
  for (let i = 0; i < times; i++) {
    const attempt = await attempts.begin(email, ip);
    if (attempt.throttled) throw new Error(`throttled after ${i} failures`);
    await attempt.failed();
  }
}

describe('SigninAttemptsService', () => {
  it('throttles after SIGNIN_MAX_FAILURES failures, until the oldest leaves SIGNIN_FAILURE_WINDOW', async () => {
    let now = 0;
    const attempts = service({ SIGNIN_MAX_FAILURES: '3', SIGNIN_FAILURE_WINDOW: '60' }, () => now);
    await fail(attempts, 'a@x.io', '203.0.113.1', 3);
    now = 10_500;
    expect(await attempts.begin('a@x.io', '203.0.113.1')).toEqual({
      throttled: true,
      retryAfter: 50,
      firstInWindow: true,
    });
    now = 60_000;
    expect((await attempts.begin('a@x.io', '203.0.113.1')).throttled).toBe(false);
  });

  it('counts the email trimmed and case-insensitively, and per client key', async () => {
    const attempts = service({ SIGNIN_MAX_FAILURES: '2' });
    await fail(attempts, 'Ann@X.io', '2001:db8:1:2::1', 1);
    await fail(attempts, ' ann@x.io ', '2001:db8:1:2::99', 1); // same /64
    expect((await attempts.begin('ANN@x.io', '2001:db8:1:2::7')).throttled).toBe(true);
    expect((await attempts.begin('ann@x.io', '2001:db8:1:3::1')).throttled).toBe(false);
    expect((await attempts.begin('bob@x.io', '2001:db8:1:2::1')).throttled).toBe(false);
    expect(signinKey(' Ann@X.io', '::ffff:10.0.0.1')).toBe(signinKey('ann@x.io', '10.0.0.1'));
    expect(signinKey('ann@x.io', '10.0.0.1')).not.toContain('ann');
  });

  it('a success clears the count; an abandoned attempt does not count', async () => {
    const attempts = service({ SIGNIN_MAX_FAILURES: '2' });
    await fail(attempts, 'a@x.io', '10.0.0.1', 1);
    const ok = await attempts.begin('a@x.io', '10.0.0.1');
    if (ok.throttled) throw new Error('throttled');
    await ok.succeeded();
    await fail(attempts, 'a@x.io', '10.0.0.1', 1);
    const abandoned = await attempts.begin('a@x.io', '10.0.0.1');
    if (abandoned.throttled) throw new Error('throttled');
    await abandoned.abandoned();
    await fail(attempts, 'a@x.io', '10.0.0.1', 1);
    expect((await attempts.begin('a@x.io', '10.0.0.1')).throttled).toBe(true);
  });

  it('counts attempts in flight: parallel attempts cannot exceed the limit', async () => {
    const attempts = service({ SIGNIN_MAX_FAILURES: '5' });
    const results = await Promise.all(Array.from({ length: 20 }, () => attempts.begin('a@x.io', '10.0.0.1')));
    expect(results.filter((result) => !result.throttled)).toHaveLength(5);
  });
});

describe('CounterThrottlerStorage', () => {
  it('reports hits, and blocks past the limit until the window ends (seconds, rounded up)', async () => {
    let now = 0;
    const storage = new CounterThrottlerStorage(new MemoryCounterStore({ now: () => now }));
    expect(await storage.increment('k', 60_000, 2)).toEqual({
      totalHits: 1,
      timeToExpire: 60,
      isBlocked: false,
      timeToBlockExpire: 0,
    });
    await storage.increment('k', 60_000, 2);
    now = 20_500;
    expect(await storage.increment('k', 60_000, 2)).toEqual({
      totalHits: 3,
      timeToExpire: 40,
      isBlocked: true,
      timeToBlockExpire: 40,
    });
    now = 60_000;
    expect((await storage.increment('k', 60_000, 2)).isBlocked).toBe(false);
  });
});
