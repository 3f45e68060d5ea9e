import { basicAuthorization, sleep } from './discovery.js';
import type { GatehouseEvent } from './options.js';
import { parseRevocation, type RevocationSet } from './revocation-set.js';
import { SseParser } from './sse-parser.js';

export interface RevocationFeedOptions {
  /** `GET` URL of the feed. */
  url: string;
  clientId: string;
  clientSecret: string;
  /** How long (ms) the feed may be lost before `fresh()` turns false. */
  failClosedAfter: number;
  /** How long (ms) a stream may stay silent (no event, no keep-alive) before it counts as lost. */
  silenceTimeout: number;
  reconnectDelay: { initial: number; max: number };
  onEvent?: (event: GatehouseEvent) => void;
}

/**
 * How far (ms) before the last server time it heard of a resumed stream
 * starts: Gatehouse records an event a moment before its transaction commits,
 * so events can arrive slightly out of `revokedAt` order (its documentation
 * asks for 5 s). Repeated events change nothing.
 */
const RESUME_MARGIN_MS = 5_000;
/** The first stream asks for every stored event whose `until` is ahead. */
const FROM_THE_START = new Date(0).toISOString();
/** How long (ms) a connection may take to answer and catch up before it is retried. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Follows Gatehouse's revocation feed: one Server-Sent Events stream, opened
 * with `?since=` so that Gatehouse first replays what happened since the last
 * server time this client heard (on the first connection: every event still
 * in force), then says `ready`, then sends each new revocation within a
 * second. Its keep-alive comments prove the stream alive between events.
 * Reconnects by itself, with backoff; a stream silent longer than
 * `silenceTimeout` is dropped (a connection can die without a reset).
 *
 * `fresh()` is what the guard asks: true while a caught-up stream is open,
 * and for `failClosedAfter` after it was lost (from the moment it was last
 * heard, for a silent one); false before the first catch-up.
 */
export class RevocationFeed {
  /** Whether a stream has ever been caught up. */
  private everLive = false;
  /** Whether the current stream is caught up (after its `ready`). */
  private live = false;
  /** performance.now() since when the feed is lost (meaningful while not live). */
  private downSince = 0;
  /** The latest server time (ms) heard: `ready`, keep-alives, events. Where a resumed stream starts from. */
  private serverTime: number | undefined;
  private lastByte = 0;
  private connectStarted = 0;
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
    this.watchdog = setInterval(() => this.check(), Math.min(250, this.options.failClosedAfter / 4));
    this.watchdog.unref();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    clearInterval(this.watchdog);
    await this.loop;
  }

  /** Whether revocations are known well enough to accept tokens (see the class comment). */
  fresh(now = performance.now()): boolean {
    return this.everLive && (this.live || now - this.downSince <= this.options.failClosedAfter);
  }

  /** Resolves when the feed is caught up (start-up, tests); rejects after `timeoutMs`. */
  async ready(timeoutMs = 30_000): Promise<void> {
    if (this.live) return;
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

  /** Drops the current stream (it reconnects at once): for tests of the resumption. */
  dropStream(): void {
    this.current?.abort(new Error('dropped'));
  }

  private async run(): Promise<void> {
    let delay = this.options.reconnectDelay.initial;
    while (!this.stopping.signal.aborted) {
      try {
        await this.follow();
      } catch (error) {
        if (this.stopping.signal.aborted) break;
        this.lost(describe(error));
      }
      if (this.stopping.signal.aborted) break;
      // After a stream that got live, the first retry comes soon; each failure doubles the wait.
      if (this.liveSinceConnect) delay = this.options.reconnectDelay.initial;
      await sleep(delay, this.stopping.signal);
      delay = Math.min(delay * 2, this.options.reconnectDelay.max);
    }
  }

  /** Whether the last stream reached `ready` (then reconnect at once). */
  private liveSinceConnect = false;

  /** One stream, from connection to its end. Throws when it is over. */
  private async follow(): Promise<void> {
    this.liveSinceConnect = false;
    const controller = new AbortController();
    this.current = controller;
    const signal = AbortSignal.any([controller.signal, this.stopping.signal]);
    const url = new URL(this.options.url);
    const since =
      this.serverTime === undefined
        ? FROM_THE_START
        : new Date(this.serverTime - RESUME_MARGIN_MS).toISOString();
    url.searchParams.set('since', since);
    const headers = {
      accept: 'text/event-stream',
      authorization: basicAuthorization(this.options.clientId, this.options.clientSecret),
    };
    // The watchdog bounds the connection and the catch-up (a timeout signal on fetch would cut the stream too).
    this.connectStarted = performance.now();
    this.lastByte = this.connectStarted;
    const response = await fetch(url, { headers, signal });
    if (!response.ok || !response.body) {
      await response.body?.cancel().catch(() => undefined);
      throw new Error(`the feed answered ${response.status}`);
    }
    if (!/^text\/event-stream\b/i.test(response.headers.get('content-type') ?? '')) {
      await response.body.cancel().catch(() => undefined);
      throw new Error('the feed did not answer with an event stream');
    }
    await this.read(response.body, signal);
    throw new Error('the feed closed the stream');
  }

  private async read(body: ReadableStream<Uint8Array>, signal: AbortSignal): Promise<void> {
    let replayed = 0;
    const parser = new SseParser({
      event: ({ type, data }) => {
        if (type === 'revocation') {
          const revocation = parseRevocation(parseJson(data));
          if (!revocation) return;
          this.set.apply(revocation);
          this.heardServerTime(revocation.revokedAt);
          if (!this.live) replayed++;
        } else if (type === 'ready') {
          const at = parseJson(data) as { at?: unknown } | undefined;
          if (typeof at?.at === 'string') this.heardServerTime(Date.parse(at.at));
          this.set.prune();
          this.live = true;
          this.everLive = true;
          this.liveSinceConnect = true;
          this.lastReason = undefined;
          this.options.onEvent?.({ type: 'feed-connected', caughtUp: replayed });
          this.check();
        }
      },
      comment: (text) => {
        // ": keep-alive <server time>"
        const match = /^ ?keep-alive (\S+)/.exec(text);
        if (match) this.heardServerTime(Date.parse(match[1]!));
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
        this.lastByte = performance.now();
        parser.push(decoder.decode(value, { stream: true }));
      }
    } finally {
      signal.removeEventListener('abort', abort);
    }
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
  }

  private heardServerTime(ms: number): void {
    if (Number.isFinite(ms) && (this.serverTime === undefined || ms > this.serverTime)) this.serverTime = ms;
  }

  private lost(reason: string, since = performance.now()): void {
    // Reported when a live stream is lost, and once per distinct failure of the reconnections after.
    if (this.live || reason !== this.lastReason) this.options.onEvent?.({ type: 'feed-lost', reason });
    this.lastReason = reason;
    if (this.live) {
      this.live = false;
      this.downSince = since;
    }
    this.current = undefined;
  }

  private lastReason: string | undefined;

  /** The watchdog: drops a silent stream or a connection that does not catch up; reports state changes. */
  private check(): void {
    const now = performance.now();
    const current = this.current;
    if (current && this.live && now - this.lastByte > this.options.silenceTimeout) {
      const silent = Math.round(now - this.lastByte);
      // Lost since it was last heard: what came after may have been missed.
      this.lost(`no event or keep-alive for ${silent} ms`, this.lastByte);
      current.abort(new Error(`silent for ${silent} ms`));
    } else if (current && !this.live && now - this.connectStarted > CONNECT_TIMEOUT_MS) {
      current.abort(new Error(`not caught up within ${CONNECT_TIMEOUT_MS} ms`));
    }
    this.set.prune();
    const fresh = this.fresh(now);
    if (fresh && this.live) {
      for (const waiter of this.waiters) waiter();
      this.waiters.clear();
    }
    if (fresh && !this.wasFresh) {
      if (this.lostAt !== undefined) {
        this.options.onEvent?.({ type: 'recovered', downForMs: Math.round(now - this.lostAt) });
      }
      this.lostAt = undefined;
    } else if (!fresh && this.wasFresh) {
      this.lostAt = this.downSince;
      this.options.onEvent?.({ type: 'fail-closed', silentForMs: Math.round(now - this.downSince) });
    }
    this.wasFresh = fresh;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
  }
  return String(error);
}
