import { basicAuthorization, withTimeout } from './discovery.js';
import type { GatehouseEvent } from './options.js';
import { parseRevocation, type RevocationSet } from './revocation-set.js';
import { SseParser } from './sse-parser.js';

export interface RevocationFeedOptions {
  /** `GET` URL of the feed. */
  url: string;
  clientId: string;
  clientSecret: string;
  /** The longest time (ms) without news from a caught-up feed before `fresh()` turns false. */
  failClosedAfter: number;
  reconnectDelay: { initial: number; max: number };
  onEvent?: (event: GatehouseEvent) => void;
}

/**
 * Margin (ms) taken before the last moment the previous stream is known to
 * have been up to date, when asking for `?since=`: covers the truncation of
 * the `Date` header to seconds and clock differences between Gatehouse
 * instances that stamp revocations. Re-reading a few entries costs nothing.
 */
const CATCH_UP_MARGIN_MS = 30_000;

/**
 * Follows Gatehouse's revocation feed: one Server-Sent Events stream
 * (`Accept: text/event-stream`), whose events and keep-alives prove the feed
 * alive; on every (re)connection, once the stream is open, a JSON catch-up
 * (`?since=`) fills the gap since the previous stream — the stream first, so
 * that nothing revoked between the two is lost. Reconnects by itself, with
 * backoff; a stream silent for longer than `failClosedAfter` is treated as
 * lost (a connection can die without a reset).
 *
 * `fresh()` says whether the set is known to be complete up to at most
 * `failClosedAfter` ago: the guard refuses every protected request otherwise.
 */
export class RevocationFeed {
  /** performance.now() of the last news from a caught-up feed; undefined before the first catch-up. */
  private lastHeard: number | undefined;
  private caughtUp = false;
  /** The server's clock (ms) when the current stream was known up to date, for the next `?since=`. */
  private coveredUntil: number | undefined;
  private streamOrigin: { server: number; local: number } | undefined;
  private lastEventId = '';
  private readonly stopping = new AbortController();
  private current: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private wasFresh = false;
  private lostAt: number | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly options: RevocationFeedOptions,
    private readonly set: RevocationSet,
  ) {}

  start(): void {
    if (this.loop) return;
    this.loop = this.run();
    // Also checks, between events, that the stream is not silently dead.
    this.watchdog = setInterval(() => this.check(), Math.min(250, this.options.failClosedAfter / 4));
    this.watchdog.unref();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    clearInterval(this.watchdog);
    await this.loop;
  }

  /** Whether every revocation up to at most `failClosedAfter` ago is known. */
  fresh(now = performance.now()): boolean {
    return this.lastHeard !== undefined && now - this.lastHeard <= this.options.failClosedAfter;
  }

  /** Resolves when the feed is caught up (for start-up and tests); rejects after `timeoutMs`. */
  async ready(timeoutMs = 30_000): Promise<void> {
    if (this.fresh()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(done);
        reject(new Error(`the revocation feed was not caught up within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.add(done);
    });
  }

  /** Aborts the current stream (it reconnects): for tests of the reconnection. */
  dropStream(): void {
    this.current?.abort(new Error('dropped'));
  }

  private async run(): Promise<void> {
    let delay = this.options.reconnectDelay.initial;
    while (!this.stopping.signal.aborted) {
      const started = performance.now();
      try {
        await this.follow();
      } catch (error) {
        if (this.stopping.signal.aborted) break;
        this.lost(describe(error));
      }
      if (this.stopping.signal.aborted) break;
      // A stream that lived a while resets the backoff; one that failed at once doubles it.
      if (performance.now() - started > this.options.reconnectDelay.max)
        delay = this.options.reconnectDelay.initial;
      await sleep(delay, this.stopping.signal);
      delay = Math.min(delay * 2, this.options.reconnectDelay.max);
    }
  }

  /** One stream, from connection to its end. Resolves or throws when it is over. */
  private async follow(): Promise<void> {
    const controller = new AbortController();
    this.current = controller;
    const signal = AbortSignal.any([controller.signal, this.stopping.signal]);
    const authorization = basicAuthorization(this.options.clientId, this.options.clientSecret);
    const headers: Record<string, string> = { accept: 'text/event-stream', authorization };
    if (this.lastEventId) headers['last-event-id'] = this.lastEventId;
    // The watchdog gives the connection `failClosedAfter` to answer, as it gives the stream between bytes
    // (a timeout signal on fetch would also cut the stream itself).
    this.lastByte = performance.now();
    const response = await fetch(this.options.url, { headers, signal });
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      throw new Error(`the feed answered ${response.status}`);
    }
    if (!/^text\/event-stream\b/i.test(response.headers.get('content-type') ?? '')) {
      await response.body.cancel();
      throw new Error('the feed did not answer with an event stream');
    }
    const serverNow = Date.parse(response.headers.get('date') ?? '');
    this.streamOrigin = Number.isFinite(serverNow)
      ? { server: serverNow, local: performance.now() }
      : undefined;
    this.lastByte = performance.now();
    const reading = this.read(response.body, signal);
    try {
      await this.catchUp(signal);
    } catch (error) {
      controller.abort();
      await reading.catch(() => undefined);
      throw error;
    }
    await reading;
    throw new Error('the feed closed the stream');
  }

  private lastByte = 0;

  private async read(body: ReadableStream<Uint8Array>, signal: AbortSignal): Promise<void> {
    const parser = new SseParser({
      event: (event) => {
        if (event.type === 'revocation' || event.type === 'message') {
          let data: unknown;
          try {
            data = JSON.parse(event.data);
          } catch {
            data = undefined;
          }
          const revocation = parseRevocation(data);
          if (revocation) this.set.add(revocation);
        }
        if (event.lastEventId) this.lastEventId = event.lastEventId;
      },
    });
    const decoder = new TextDecoder();
    const reader = body.getReader();
    const abort = () => void reader.cancel().catch(() => undefined);
    signal.addEventListener('abort', abort, { once: true });
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        // Events before the bytes' time stamp: a revocation is in the set before the feed counts as heard.
        parser.push(decoder.decode(value, { stream: true }));
        this.heard();
      }
    } finally {
      signal.removeEventListener('abort', abort);
    }
    if (signal.aborted) throw signal.reason ?? new Error('aborted');
  }

  /** Fills the gap since the previous stream from the JSON list, then counts the feed as caught up. */
  private async catchUp(signal: AbortSignal): Promise<void> {
    const url = new URL(this.options.url);
    if (this.coveredUntil !== undefined) {
      url.searchParams.set('since', new Date(this.coveredUntil - CATCH_UP_MARGIN_MS).toISOString());
    }
    const response = await fetch(url, {
      headers: {
        accept: 'application/json',
        authorization: basicAuthorization(this.options.clientId, this.options.clientSecret),
      },
      signal: withTimeout(signal),
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`the feed's catch-up answered ${response.status}`);
    }
    const list: unknown = await response.json();
    if (!Array.isArray(list)) throw new Error("the feed's catch-up is not a list");
    for (const item of list) {
      const revocation = parseRevocation(item);
      if (revocation) this.set.add(revocation);
    }
    this.set.prune();
    this.caughtUp = true;
    this.heard();
    this.options.onEvent?.({ type: 'feed-connected', caughtUp: list.length });
  }

  /** Bytes arrived on the stream: news, if the set is caught up. */
  private heard(): void {
    const now = performance.now();
    this.lastByte = now;
    if (!this.caughtUp) return;
    this.lastHeard = now;
    if (this.streamOrigin) this.coveredUntil = this.streamOrigin.server + (now - this.streamOrigin.local);
    else this.coveredUntil = Date.now() - CATCH_UP_MARGIN_MS;
    if (!this.wasFresh) this.check();
  }

  private lost(reason: string): void {
    if (this.caughtUp) this.options.onEvent?.({ type: 'feed-lost', reason });
    this.caughtUp = false;
    this.current = undefined;
  }

  /** The watchdog: a silent stream is dropped; state changes are reported. */
  private check(): void {
    const now = performance.now();
    if (this.current && now - this.lastByte > this.options.failClosedAfter) {
      this.current.abort(new Error(`no news for ${Math.round(now - this.lastByte)} ms`));
    }
    const fresh = this.fresh(now);
    if (fresh && !this.wasFresh) {
      if (this.lostAt !== undefined)
        this.options.onEvent?.({ type: 'recovered', downForMs: Math.round(now - this.lostAt) });
      this.lostAt = undefined;
      for (const waiter of this.waiters) waiter();
      this.waiters.clear();
    } else if (!fresh && this.wasFresh) {
      this.lostAt = this.lastHeard;
      this.options.onEvent?.({ type: 'fail-closed', silentForMs: Math.round(now - (this.lastHeard ?? now)) });
    }
    this.wasFresh = fresh;
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
  }
  return String(error);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
