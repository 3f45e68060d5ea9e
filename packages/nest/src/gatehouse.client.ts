import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { discoverEndpoints, type Endpoints, sleep } from './discovery.js';
import { GatehouseError } from './errors.js';
import { GATEHOUSE_OPTIONS, type GatehouseEvent, type ResolvedOptions } from './options.js';
import type { GatehousePrincipal } from './principal.js';
import { RevocationFeed } from './revocation-feed.js';
import { RevocationSet } from './revocation-set.js';
import { TokenVerifier } from './token-verifier.js';

/**
 * The kit's state for one application: the endpoints found from the issuer,
 * the token verifier, the revocation set and the feed that fills it. Starts
 * with the module, without holding the application's start up: until the
 * feed is caught up, protected routes answer 503 (`ready()` waits for it).
 */
@Injectable()
export class GatehouseClient implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Gatehouse');
  private readonly stopping = new AbortController();
  private verifier: TokenVerifier | undefined;
  private feed: RevocationFeed | undefined;
  private booting: Promise<void> | undefined;
  readonly revocations: RevocationSet;

  constructor(@Inject(GATEHOUSE_OPTIONS) private readonly options: ResolvedOptions) {
    this.revocations = new RevocationSet(options.clockTolerance * 1000);
  }

  onModuleInit(): void {
    this.booting ??= this.boot();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping.abort();
    await this.booting;
    await this.feed?.stop();
  }

  /** Resolves once the revocation feed is caught up (protected routes then answer); rejects after `timeoutMs`. */
  async ready(timeoutMs = 30_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    this.booting ??= this.boot();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.booting,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`Gatehouse was not reached within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    if (!this.feed) throw new Error('the Gatehouse client is shutting down');
    await this.feed.ready(Math.max(0, deadline - performance.now()));
  }

  /** Whether the revocation set is known complete up to `failClosedAfter` ago (protected routes answer). */
  get available(): boolean {
    return this.feed?.fresh() ?? false;
  }

  /** The caller of an `Authorization` header, or the refusal (a GatehouseError) to answer. */
  async authenticate(header: string | string[] | undefined): Promise<GatehousePrincipal> {
    const token = typeof header === 'string' ? /^Bearer +(\S+) *$/i.exec(header)?.[1] : undefined;
    if (!token) throw new GatehouseError('missing_token', 'An access token is required');
    if (!this.verifier || !this.feed?.fresh()) {
      throw new GatehouseError('unavailable', 'Revocations cannot be checked: Gatehouse is unreachable');
    }
    const principal = await this.verifier.verify(token);
    switch (this.revocations.refusal(principal)) {
      case undefined:
        return principal;
      case 'session_revoked':
        throw new GatehouseError('session_revoked', 'The session of this access token has been revoked');
      case 'roles_changed':
        // The session lives on: a refreshed token carries the roles now (what the client should do).
        throw new GatehouseError('token_expired', "The user's roles have changed: refresh the access token");
      case 'client_deleted':
        throw new GatehouseError('invalid_token', 'The service client of this access token was deleted');
    }
  }

  /** For tests of the reconnection: drops the feed's current stream. */
  dropFeedStream(): void {
    this.feed?.dropStream();
  }

  private async boot(): Promise<void> {
    const { options } = this;
    const report = options.onEvent ?? ((event: GatehouseEvent) => this.log(event));
    let endpoints: Endpoints | undefined;
    let delay = options.reconnectDelay.initial;
    while (!endpoints && !this.stopping.signal.aborted) {
      try {
        endpoints = await discoverEndpoints(
          options.issuer,
          {
            ...(options.jwksUri ? { jwksUri: options.jwksUri } : {}),
            ...(options.revocationEndpoint ? { revocations: options.revocationEndpoint } : {}),
          },
          this.stopping.signal,
        );
      } catch (error) {
        if (this.stopping.signal.aborted) return;
        report({
          type: 'feed-lost',
          reason: `discovery: ${error instanceof Error ? error.message : String(error)}`,
        });
        await sleep(delay, this.stopping.signal);
        delay = Math.min(delay * 2, options.reconnectDelay.max);
      }
    }
    if (!endpoints) return;
    this.verifier = new TokenVerifier(endpoints.jwksUri, options);
    this.feed = new RevocationFeed(
      {
        url: endpoints.revocations,
        clientId: options.clientId,
        clientSecret: options.clientSecret,
        failClosedAfter: options.failClosedAfter,
        silenceTimeout: options.feedSilenceTimeout,
        reconnectDelay: options.reconnectDelay,
        onEvent: report,
      },
      this.revocations,
    );
    this.feed.start();
  }

  private log(event: GatehouseEvent): void {
    switch (event.type) {
      case 'feed-connected':
        return this.logger.log(`revocation feed connected (${event.caughtUp} revocations caught up)`);
      case 'feed-lost':
        return this.logger.warn(`revocation feed lost: ${event.reason}`);
      case 'fail-closed':
        return this.logger.error(
          `no news from the revocation feed for ${event.silentForMs} ms: refusing protected requests (503)`,
        );
      case 'recovered':
        return this.logger.log(`revocation feed back after ${event.downForMs} ms: serving again`);
    }
  }
}
