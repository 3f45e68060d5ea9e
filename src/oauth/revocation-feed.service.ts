import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { PassThrough, type Readable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { DATABASE } from '../database/database.module.js';
import { DATABASE_CONNECTION, type Database, type DatabaseConnection } from '../database/database.types.js';
import { RevocationEventsRepository } from '../database/revocation-events.repository.js';
import { accessTokenLifetimeBound } from '../keys/access-token.js';
import type { RevocationEventView } from './oauth.schemas.js';

/** The channel migration 0011's trigger notifies with every revocation event, at its commit. */
export const REVOCATION_CHANNEL = 'gatehouse_revocations';
/**
 * A transaction records its event a moment before it commits, so events can reach a stream a little
 * out of `revokedAt` order: a resume (Last-Event-ID, or the channel back after a loss) replays this
 * much before the point it resumes from. Repeats are harmless; gaps would not be.
 */
export const RESUME_MARGIN_MS = 5_000;
/** A comment on every stream this often while the feed is live, so clients can tell a dead stream. */
export const KEEP_ALIVE_MS = 15_000;
/** The SSE `retry:` hint (ms) for clients that reconnect by themselves. */
const RETRY_HINT_MS = 2_000;
/** A stream whose client reads slower than events come is ended past this backlog (it resumes by id). */
const MAX_BACKLOG_BYTES = 1024 * 1024;

/** One event as the feed carries it (a row, or a notification of one). */
interface FeedEvent {
  id: number;
  sid: string | null;
  sub: string;
  reason: string;
  roles: string[] | null;
  revokedAt: Date;
}

/** One client's Server-Sent Events stream. */
class FeedStream {
  readonly body = new PassThrough();
  /** Live events that arrived while the catch-up was read, and the ids the catch-up sent. */
  private pending: FeedEvent[] | undefined = [];
  private readonly caughtUp = new Set<number>();
  private lastWrite = performance.now();
  private readonly keepAlive: NodeJS.Timeout;

  constructor(
    readonly clientId: string,
    private readonly show: (event: FeedEvent) => RevocationEventView,
    keepAliveMs: number,
    private readonly live: () => boolean,
  ) {
    this.write(`retry: ${RETRY_HINT_MS}\n\n`);
    this.keepAlive = setInterval(() => {
      // Silence while the feed cannot hear changes: a client then treats the stream as lost.
      if (this.live() && performance.now() - this.lastWrite >= keepAliveMs - 50) {
        this.write(`: keep-alive ${new Date().toISOString()}\n\n`);
      }
    }, keepAliveMs);
    this.keepAlive.unref();
  }

  get ended(): boolean {
    return this.body.writableEnded || this.body.destroyed;
  }

  /** The catch-up, then `ready`, then the live events that came meanwhile. */
  finishCatchUp(events: FeedEvent[]): void {
    for (const event of events) {
      this.caughtUp.add(event.id);
      this.sendNow(event);
    }
    this.write(`event: ready\ndata: ${JSON.stringify({ at: new Date().toISOString() })}\n\n`);
    const pending = this.pending ?? [];
    this.pending = undefined;
    for (const event of pending) if (!this.caughtUp.has(event.id)) this.sendNow(event);
    this.caughtUp.clear();
  }

  send(event: FeedEvent): void {
    if (this.pending) this.pending.push(event);
    else this.sendNow(event);
  }

  end(): void {
    clearInterval(this.keepAlive);
    if (!this.ended) this.body.end();
  }

  private sendNow(event: FeedEvent): void {
    const view = this.show(event);
    this.write(`id: ${view.revokedAt}\nevent: revocation\ndata: ${JSON.stringify(view)}\n\n`);
  }

  private write(text: string): void {
    if (this.ended) return;
    this.lastWrite = performance.now();
    this.body.write(text);
    if (this.body.writableLength > MAX_BACKLOG_BYTES) this.end();
  }
}

/**
 * The revocation feed: the stored events (JSON), and Server-Sent Events streams that get every new
 * event within a second of its commit on any instance. Events are rows written by database triggers
 * (so they survive restarts and cover every path), and each is notified on REVOCATION_CHANNEL; this
 * process LISTENs once and fans out to its streams. When the channel was lost, what was committed
 * meanwhile is read back from the table once it is up again.
 */
@Injectable()
export class RevocationFeedService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(RevocationFeedService.name);
  private readonly streams = new Set<FeedStream>();
  /** Events handed to the streams lately: a catch-up after a loss does not repeat them. */
  private readonly delivered = new LRUCache<number, true>({ max: 100_000 });
  /** When the channel was last down (ms since the epoch); undefined while it is up. */
  private downSince: number | undefined = Date.now();
  private stopListening?: () => Promise<void>;
  /** Set at shutdown: a stream asked for from then on (a client reconnecting at once) is ended at once. */
  private closing = false;
  /** Keep-alive interval of streams opened from now on (tests shorten it). */
  keepAliveMs = KEEP_ALIVE_MS;
  private readonly relevanceMs: number;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(DATABASE) private readonly db: Database,
    @Inject(DATABASE_CONNECTION) private readonly connection: DatabaseConnection,
    private readonly events: RevocationEventsRepository,
  ) {
    this.relevanceMs = accessTokenLifetimeBound(config.jwt.accessTokenTtl) * 1000;
  }

  onModuleInit(): void {
    this.stopListening = this.connection.listen(REVOCATION_CHANNEL, {
      onNotification: (payload) => this.onNotification(payload),
      onListening: () => void this.onListening(),
      onLost: () => {
        this.downSince ??= Date.now();
        this.logger.warn('lost the revocation channel; streams wait (no keep-alives) until it is back');
      },
    });
  }

  /** Ends every stream (cleanly: clients reconnect elsewhere), then stops listening. */
  async onModuleDestroy(): Promise<void> {
    this.closing = true;
    for (const stream of this.streams) stream.end();
    this.streams.clear();
    await this.stopListening?.();
  }

  /** Streams open on this instance (a metric). */
  get openStreams(): number {
    return this.streams.size;
  }

  /** The stored events that still matter, at or after `since`, oldest first. */
  async list(since?: Date): Promise<RevocationEventView[]> {
    return (await this.stored(since)).map((row) => this.view(row));
  }

  /**
   * A stream for a client: the catch-up from `since` (exact) or from `lastEventId` (less the resume
   * margin) when either is given, then `ready`, then live events. Ends when the client goes away
   * (call the returned `close`), the service stops, or its client is deleted.
   */
  open(clientId: string, from: { since?: Date; lastEventId?: Date }): { body: Readable; close: () => void } {
    const stream = new FeedStream(
      clientId,
      (event) => this.view(event),
      this.keepAliveMs,
      () => this.live,
    );
    const close = () => {
      stream.end();
      this.streams.delete(stream);
    };
    if (this.closing) {
      // The server waits for open connections as it stops: this one must not hold it up.
      close();
      return { body: stream.body, close };
    }
    this.streams.add(stream);
    stream.body.on('close', close);
    const start = from.lastEventId ? new Date(from.lastEventId.getTime() - RESUME_MARGIN_MS) : from.since;
    const catchUp = start ? this.stored(start) : Promise.resolve([]);
    catchUp.then(
      (rows) => stream.finishCatchUp(rows),
      (error: unknown) => {
        this.logger.warn(
          `revocation stream catch-up failed: ${error instanceof Error ? error.message : String(error)}`,
        );
        close(); // the client reconnects and tries again
      },
    );
    return { body: stream.body, close };
  }

  private get live(): boolean {
    return this.downSince === undefined;
  }

  private async stored(since: Date | undefined): Promise<FeedEvent[]> {
    const rows = await this.events.since(this.db, new Date(Date.now() - this.relevanceMs), since);
    return rows.map((row) => ({
      id: row.id,
      sid: row.sessionId,
      sub: row.subject,
      reason: row.reason,
      roles: row.roles,
      revokedAt: row.revokedAt,
    }));
  }

  private view(event: FeedEvent): RevocationEventView {
    return {
      sid: event.sid,
      sub: event.sub,
      revokedAt: event.revokedAt.toISOString(),
      until: new Date(event.revokedAt.getTime() + this.relevanceMs).toISOString(),
      reason: event.reason,
      ...(event.roles ? { roles: event.roles } : {}),
    };
  }

  private publish(event: FeedEvent): void {
    if (this.delivered.has(event.id)) return;
    this.delivered.set(event.id, true);
    for (const stream of this.streams) {
      stream.send(event);
      // A deleted client's own stream ends with the event that says so.
      if (event.sid === null && event.sub === stream.clientId) {
        stream.end();
        this.streams.delete(stream);
      }
    }
  }

  private async onListening(): Promise<void> {
    const downSince = this.downSince;
    this.downSince = undefined;
    if (downSince === undefined) return;
    try {
      // Committed while nobody here listened: read back, from a margin before the loss.
      for (const row of await this.stored(new Date(downSince - RESUME_MARGIN_MS))) this.publish(row);
    } catch (error) {
      this.downSince = downSince; // the next recovery tries again
      this.logger.warn(
        `revocation catch-up after a channel loss failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  private onNotification(payload: string): void {
    const event = parseNotification(payload);
    if (event) this.publish(event);
  }
}

function parseNotification(payload: string): FeedEvent | undefined {
  try {
    const value = JSON.parse(payload) as Record<string, unknown>;
    const { id, sid, sub, reason, roles, revokedAt } = value;
    if (
      typeof id !== 'number' ||
      (sid !== null && typeof sid !== 'string') ||
      typeof sub !== 'string' ||
      typeof reason !== 'string' ||
      typeof revokedAt !== 'string' ||
      (roles !== null && !(Array.isArray(roles) && roles.every((role) => typeof role === 'string')))
    ) {
      return undefined;
    }
    const at = new Date(revokedAt);
    if (Number.isNaN(at.getTime())) return undefined;
    return { id, sid, sub, reason, roles: roles, revokedAt: at };
  } catch {
    return undefined;
  }
}
