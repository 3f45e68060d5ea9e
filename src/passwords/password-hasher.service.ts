import { randomBytes } from 'node:crypto';

import { Inject, Injectable, type OnApplicationShutdown, Optional } from '@nestjs/common';
import { ApiError } from '../common/errors/api-error.js';
import { Argon2Workers } from './argon2-workers.js';

/** Injection token for {@link PasswordHasherOptions}. */
export const PASSWORD_HASHER_OPTIONS = Symbol('PASSWORD_HASHER_OPTIONS');

export interface PasswordHasherOptions {
  /** Maximum number of argon2 operations (hash or verify) running at once. Default 2. */
  concurrency?: number;
  /** argon2id memory cost in KiB. Default 19456 (19 MiB, OWASP). */
  memoryCost?: number;
  /** argon2id number of passes. Default 2 (OWASP). */
  timeCost?: number;
  /**
   * How many operations may wait for a thread (PASSWORD_HASH_QUEUE); one more is refused
   * at once with 503 `unavailable` and Retry-After. Default 64.
   */
  maxQueued?: number;
}

const DEFAULT_CONCURRENCY = 2;
export const DEFAULT_MAX_QUEUED = 64;
const DEFAULT_MEMORY_COST = 19456;
const DEFAULT_TIME_COST = 2;
const PARALLELISM = 1;

// `Algorithm` and `Version` are ambient const enums in @node-rs/argon2's typings
// (and empty objects at run time), so their numeric values are spelled out here.
const ALGORITHM_ARGON2ID = 2;
const VERSION_0X13 = 1;
const PHC_ALGORITHM = 'argon2id';
const PHC_VERSION = 19; // 0x13

interface PhcParams {
  algorithm: string;
  version: number;
  m: number;
  t: number;
  p: number;
}

// $<alg>[$v=<version>]$<param>=<value>(,<param>=<value>)*$<salt>$<hash>
const PHC_PATTERN =
  /^\$([a-z0-9-]+)(?:\$v=(\d+))?\$([a-z0-9-]+=[^$,]+(?:,[a-z0-9-]+=[^$,]+)*)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;

function parsePhc(encoded: string): PhcParams | null {
  const match = PHC_PATTERN.exec(encoded);
  if (!match) return null;
  const [, algorithm, versionText, paramsText] = match;
  if (algorithm === undefined || paramsText === undefined) return null;
  const params = new Map<string, string>();
  for (const pair of paramsText.split(',')) {
    const eq = pair.indexOf('=');
    const key = pair.slice(0, eq);
    if (params.has(key)) return null;
    params.set(key, pair.slice(eq + 1));
  }
  const int = (text: string | undefined): number =>
    text !== undefined && /^\d+$/.test(text) ? Number(text) : NaN;
  const parsed: PhcParams = {
    algorithm,
    // A PHC string without `v=` is argon2 version 1.0 (0x10 = 16).
    version: versionText === undefined ? 16 : int(versionText),
    m: int(params.get('m')),
    t: int(params.get('t')),
    p: int(params.get('p')),
  };
  if ([parsed.version, parsed.m, parsed.t, parsed.p].some(Number.isNaN)) return null;
  return parsed;
}

/**
 * Thrown by `hash`/`verify` when the caller's request was closed by its client before
 * its turn came: nobody is waiting for the answer, so the work is not done.
 */
export class ClientGoneError extends ApiError {
  constructor() {
    super('unavailable', 'The client closed the request');
  }
}

function nonNegativeInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`PasswordHasher: ${name} must be a whole number, got ${String(value)}`);
  }
  return value;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`PasswordHasher: ${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/**
 * Hashes and verifies passwords with argon2id.
 *
 * argon2 runs on `concurrency` worker threads of its own, at a lower CPU
 * priority than request handling (Argon2Workers); at most `concurrency`
 * operations run at once and the rest wait in FIFO order, so a burst of
 * sign-ins queues here instead of taking the machine.
 *
 * The queue is bounded (`maxQueued`): beyond it an operation is refused at
 * once (503 `unavailable` with Retry-After) rather than making every later
 * signin wait behind it. An operation given the request's `closed` signal is
 * dropped from the queue when its client goes away, before any hashing.
 */
@Injectable()
export class PasswordHasher implements OnApplicationShutdown {
  readonly concurrency: number;
  private readonly memoryCost: number;
  private readonly timeCost: number;

  readonly maxQueued: number;

  private active = 0;
  private maxActive = 0;
  private started = 0;
  private rejectedCount = 0;
  private droppedCount = 0;
  /** Moving average of an operation's duration (ms); 0 until one has finished. */
  private averageMs = 0;
  private readonly waiting: Array<() => void> = [];
  private dummyHash: Promise<string> | undefined;
  private readonly workers: Argon2Workers;

  constructor(@Optional() @Inject(PASSWORD_HASHER_OPTIONS) options: PasswordHasherOptions | null = null) {
    this.concurrency = positiveInteger('concurrency', options?.concurrency ?? DEFAULT_CONCURRENCY);
    this.memoryCost = positiveInteger('memoryCost', options?.memoryCost ?? DEFAULT_MEMORY_COST);
    this.timeCost = positiveInteger('timeCost', options?.timeCost ?? DEFAULT_TIME_COST);
    this.maxQueued = nonNegativeInteger('maxQueued', options?.maxQueued ?? DEFAULT_MAX_QUEUED);
    this.workers = new Argon2Workers(this.concurrency);
  }

  /**
   * At shutdown, after the HTTP server has closed: signins and signups still in flight at
   * SIGTERM finish their hash first (onModuleDestroy would run before, and fail them).
   */
  async onApplicationShutdown(): Promise<void> {
    await this.workers.close();
  }

  /** The hashing threads' ids and nice values (for the tests and diagnostics). */
  hashingThreads(): Promise<{ threadId: number | null; nice: number | null }[]> {
    return this.workers.threadInfo();
  }

  /** Number of argon2 operations running right now. */
  get inFlight(): number {
    return this.active;
  }

  /** Number of argon2 operations waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Number of argon2 operations started since construction. */
  get operationsStarted(): number {
    return this.started;
  }

  /** Highest value `inFlight` has reached since construction. */
  get maxObservedInFlight(): number {
    return this.maxActive;
  }

  /** Operations refused because the queue was full, since construction. */
  get rejected(): number {
    return this.rejectedCount;
  }

  /** Operations dropped unstarted because their client closed the request, since construction. */
  get dropped(): number {
    return this.droppedCount;
  }

  /**
   * Hashes `password` with the current parameters; resolves to a PHC string.
   * `closed`: the request's signal (ClientInfo.closed); once aborted, the operation is dropped
   * if it has not started, with ClientGoneError.
   */
  async hash(password: string, closed?: AbortSignal): Promise<string> {
    return this.limited(closed, () =>
      this.workers.run<string>('hash', [
        password,
        {
          algorithm: ALGORITHM_ARGON2ID,
          version: VERSION_0X13,
          memoryCost: this.memoryCost,
          timeCost: this.timeCost,
          parallelism: PARALLELISM,
        },
      ]),
    );
  }

  /**
   * Checks `password` against a PHC string (made with any argon2 parameters).
   * Resolves false on a mismatch and on a malformed hash; never rejects for those.
   */
  async verify(hash: string, password: string, closed?: AbortSignal): Promise<boolean> {
    return this.limited(closed, async () => {
      try {
        return await this.workers.run<boolean>('verify', [hash, password]);
      } catch {
        return false;
      }
    });
  }

  /** True when `hash` was not made with argon2id v19 and the current m, t and p (or cannot be parsed). */
  needsRehash(hash: string): boolean {
    const params = parsePhc(hash);
    return (
      params === null ||
      params.algorithm !== PHC_ALGORITHM ||
      params.version !== PHC_VERSION ||
      params.m !== this.memoryCost ||
      params.t !== this.timeCost ||
      params.p !== PARALLELISM
    );
  }

  /**
   * Spends one verification (same parameters, same queue) against a hash of a random
   * password, so that a sign-in for an unknown account costs as much as a wrong password.
   */
  async verifyDummy(password: string, closed?: AbortSignal): Promise<false> {
    const dummy = await this.getDummyHash();
    await this.verify(dummy, password, closed);
    return false;
  }

  private getDummyHash(): Promise<string> {
    if (this.dummyHash === undefined) {
      const pending = this.hash(randomBytes(32).toString('base64url'));
      this.dummyHash = pending;
      // Do not cache a failure: the next call tries again.
      pending.catch(() => {
        if (this.dummyHash === pending) this.dummyHash = undefined;
      });
    }
    return this.dummyHash;
  }

  /**
   * Runs `task` once fewer than `concurrency` tasks are running; waiters start in arrival
   * order. Refused when `maxQueued` are waiting already; dropped while waiting if `closed`
   * is aborted (a task that has started runs to its end: argon2 cannot be interrupted).
   */
  private async limited<T>(closed: AbortSignal | undefined, task: () => Promise<T>): Promise<T> {
    if (closed?.aborted) {
      this.droppedCount += 1;
      throw new ClientGoneError();
    }
    if (this.active < this.concurrency) {
      this.active += 1;
    } else if (this.waiting.length >= this.maxQueued) {
      this.rejectedCount += 1;
      throw new ApiError(
        'unavailable',
        'Too many password checks in progress; try again shortly',
        undefined,
        {
          'Retry-After': String(this.retryAfterSeconds()),
        },
      );
    } else {
      // release() hands its slot straight to us, so `active` is already counted.
      await new Promise<void>((resolve, reject) => {
        const onClosed = (): void => {
          const index = this.waiting.indexOf(start);
          if (index === -1) return; // already handed a slot
          this.waiting.splice(index, 1);
          this.droppedCount += 1;
          reject(new ClientGoneError());
        };
        const start = (): void => {
          closed?.removeEventListener('abort', onClosed);
          resolve();
        };
        closed?.addEventListener('abort', onClosed, { once: true });
        this.waiting.push(start);
      });
    }
    this.maxActive = Math.max(this.maxActive, this.active);
    this.started += 1;
    const startedAt = performance.now();
    try {
      return await task();
    } finally {
      const ms = performance.now() - startedAt;
      this.averageMs = this.averageMs === 0 ? ms : this.averageMs * 0.9 + ms * 0.1;
      this.release();
    }
  }

  /** About how long until the queue has room again: the time it takes to run half of it. */
  private retryAfterSeconds(): number {
    const estimate = ((this.waiting.length / 2 / this.concurrency) * this.averageMs) / 1000;
    return Math.min(60, Math.max(1, Math.ceil(estimate)));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active -= 1;
  }
}
