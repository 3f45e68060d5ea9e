import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { clientKey } from './client-key.js';
import { type CounterStore, THROTTLE_COUNTERS } from './counter-store.js';

/** A signin allowed to go on; exactly one of its methods is called when it ends. */
export interface SigninAttempt {
  readonly throttled: false;
  /** The credentials were right: the failure count for this email and client starts again. */
  succeeded(): Promise<void>;
  /** The signin failed: the attempt stays counted as a failure. */
  failed(): Promise<void>;
  /** The signin ended for another reason (e.g. the database is down): the attempt does not count. */
  abandoned(): Promise<void>;
}

export interface ThrottledSignin {
  readonly throttled: true;
  /** Seconds until one of the failures leaves the window (Retry-After). */
  readonly retryAfter: number;
  /**
   * True for the first refusal of this email and client key in a SIGNIN_FAILURE_WINDOW
   * (counted from that refusal): the one worth an audit row. The refusals after it in the
   * same window are the same event going on; they are counted in the metrics only.
   */
  readonly firstInWindow: boolean;
}

/**
 * Brute-force protection: at most SIGNIN_MAX_FAILURES failed signins for one
 * email (trimmed, case-insensitive) from one client key within
 * SIGNIN_FAILURE_WINDOW. Each attempt is counted when it begins, before the
 * password is checked, so parallel attempts cannot exceed the limit; one that
 * succeeds clears the count, one that ends otherwise gives its place back.
 * Refusals are counted too, per key and window, so that only the first of a
 * window is audited (one address hammering a throttled account would
 * otherwise write an audit row per request).
 */
@Injectable()
export class SigninAttemptsService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(THROTTLE_COUNTERS) private readonly counters: CounterStore,
  ) {}

  async begin(email: string, ip: string): Promise<SigninAttempt | ThrottledSignin> {
    const key = signinKey(email, ip);
    const id = randomUUID();
    const { maxFailures, failureWindow } = this.config.signin;
    const reservation = await this.counters.reserve(key, id, failureWindow * 1000, maxFailures);
    if (!reservation.reserved) {
      // Shared by every instance when the counters are in Redis: one first refusal per window.
      const refusals = await this.counters.hit(`throttled:${key}`, failureWindow * 1000);
      return {
        throttled: true,
        retryAfter: Math.max(1, Math.ceil(reservation.retryMs / 1000)),
        firstInWindow: refusals.count === 1,
      };
    }
    return {
      throttled: false,
      succeeded: () => this.counters.clear(key),
      failed: async () => {},
      abandoned: () => this.counters.release(key, id),
    };
  }
}

/** The counter's key: neither the email nor the address appears in it as such. */
export function signinKey(email: string, ip: string): string {
  const digest = createHash('sha256').update(`${email.trim().toLowerCase()}\n${clientKey(ip)}`);
  return `signin:${digest.digest('base64url')}`;
}
