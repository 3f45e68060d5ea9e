import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, SignJWT, type CryptoKey } from 'jose';

/**
 * A small real HTTP server standing in for Gatehouse in the kit's own unit
 * tests: the issuer metadata, a JWKS, and the revocation feed as Gatehouse
 * documents it (Basic client authentication, `?since=` replay, `ready`,
 * live `revocation` events, keep-alive comments). The kit's end-to-end tests
 * run against the real Gatehouse (test/resource-server).
 */
export class GatehousePeer {
  readonly clientId = 'f0e1d2c3-0000-4000-8000-000000000001';
  readonly clientSecret = 'gh_cs_peer-secret-peer-secret-peer-secret-0001';
  readonly audience = 'gatehouse';
  /** The JWKS served; tests add and remove keys. */
  jwks: JWK[] = [];
  /** Every event ever published (the feed's stored rows). */
  readonly events: Record<string, unknown>[] = [];
  /** The `since` of every stream request, in order. */
  readonly sinces: (string | null)[] = [];
  /** Requests per path. */
  readonly hits = new Map<string, number>();
  /** When set, the feed answers this status instead of a stream. */
  feedStatus: number | undefined;
  private readonly streams = new Set<ServerResponse>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private streamOpened: (() => void)[] = [];

  private constructor(
    private port: number,
    private readonly keepAliveMs: number,
  ) {}

  get issuer(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(options: { keepAliveMs?: number } = {}): Promise<GatehousePeer> {
    const peer = new GatehousePeer(0, options.keepAliveMs ?? 200);
    await peer.up();
    return peer;
  }

  /** Listens (again, on the same port after `down()`). */
  async up(): Promise<void> {
    const server = createServer((request, response) => this.handle(request, response));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
    this.keepAliveTimer = setInterval(() => this.keepAlive(), this.keepAliveMs);
  }

  /** Stops listening and resets every open connection (what a crashed Gatehouse looks like). */
  async down(): Promise<void> {
    clearInterval(this.keepAliveTimer);
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.streams.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Stops the keep-alives (the open streams go silent, as behind a frozen connection). */
  silence(): void {
    clearInterval(this.keepAliveTimer);
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** Resolves when the next stream has been opened and sent `ready`. */
  nextStream(): Promise<void> {
    return new Promise((resolve) => this.streamOpened.push(resolve));
  }

  /** A new ES256 key, published in the JWKS unless `publish` is false. */
  async addKey(kid: string, publish = true): Promise<{ kid: string; privateKey: CryptoKey; jwk: JWK }> {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
    if (publish) this.jwks.push(jwk);
    return { kid, privateKey, jwk };
  }

  /** A user's access token as Gatehouse shapes it; `claims` and `header` override. */
  async userToken(
    key: { kid: string; privateKey: CryptoKey },
    claims: Record<string, unknown> = {},
    header: Record<string, unknown> = {},
  ): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      iss: this.issuer,
      aud: this.audience,
      sub: 'user-1',
      sid: 'session-1',
      roles: ['user'],
      amr: ['pwd'],
      iat: now,
      exp: now + 900,
      jti: `jti-${Math.random()}`,
      ...claims,
    })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: key.kid, ...header })
      .sign(key.privateKey);
  }

  /** Records an event and sends it to every open stream. */
  publish(event: {
    sid: string | null;
    sub: string;
    reason: string;
    roles?: string[];
    revokedAt?: Date;
  }): void {
    const revokedAt = event.revokedAt ?? new Date();
    const row = {
      sid: event.sid,
      sub: event.sub,
      revokedAt: revokedAt.toISOString(),
      until: new Date(revokedAt.getTime() + 960_000).toISOString(),
      reason: event.reason,
      ...(event.roles ? { roles: event.roles } : {}),
    };
    this.events.push(row);
    for (const stream of this.streams) stream.write(frame(row));
  }

  private keepAlive(): void {
    for (const stream of this.streams) stream.write(`: keep-alive ${new Date().toISOString()}\n\n`);
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', this.issuer);
    this.hits.set(url.pathname, (this.hits.get(url.pathname) ?? 0) + 1);
    const json = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (url.pathname === '/.well-known/oauth-authorization-server') {
      return json(200, { issuer: this.issuer, jwks_uri: `${this.issuer}/.well-known/jwks.json` });
    }
    if (url.pathname === '/.well-known/jwks.json') return json(200, { keys: this.jwks });
    if (url.pathname !== '/oauth/revocations') return json(404, { error: 'not_found' });

    const expected = `Basic ${Buffer.from(`${this.clientId}:${this.clientSecret}`).toString('base64')}`;
    if (request.headers.authorization !== expected) return json(401, { error: 'invalid_client' });
    if (this.feedStatus) return json(this.feedStatus, { error: 'temporarily_unavailable' });
    if (request.headers.accept !== 'text/event-stream') return json(200, this.events);

    const since = url.searchParams.get('since');
    this.sinces.push(since);
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    response.write('retry: 2000\n\n');
    if (since !== null) {
      for (const event of this.events) {
        if (Date.parse(event.revokedAt as string) >= Date.parse(since)) response.write(frame(event));
      }
    }
    response.write(`event: ready\ndata: ${JSON.stringify({ at: new Date().toISOString() })}\n\n`);
    this.streams.add(response);
    response.on('close', () => this.streams.delete(response));
    for (const opened of this.streamOpened.splice(0)) opened();
  }
}

const frame = (event: Record<string, unknown>): string =>
  `id: ${String(event.revokedAt)}\nevent: revocation\ndata: ${JSON.stringify(event)}\n\n`;

/**
 * Polls `check` until it holds, with a generous deadline (a busy machine
 * delays everything): waits for an event, asserts nothing by itself.
 */
export async function until(check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await check()) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}
