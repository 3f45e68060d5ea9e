import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** Where a proxy forwards to: a TCP address, or a Unix socket (the embedded server's). */
export type ProxyTarget = { host: string; port: number } | { path: string };

/** The server a PostgreSQL connection string names: its TCP address, or its Unix socket. */
export function postgresTarget(serverUrl: string): ProxyTarget {
  const url = new URL(serverUrl);
  const socketDir = url.searchParams.get('host');
  const port = Number(url.port || 5432);
  return socketDir?.startsWith('/')
    ? { path: `${socketDir}/.s.PGSQL.${port}` }
    : { host: url.hostname, port };
}

/** `serverUrl` with its database, through a proxy on 127.0.0.1:`port`. */
export function viaProxy(serverUrl: string, port: number): string {
  const url = new URL(serverUrl);
  url.searchParams.delete('host');
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return url.toString();
}

interface Bridge {
  client: Socket;
  upstream: Socket;
  /** The client's first bytes: a PostgreSQL client's startup message (user, database, application_name). */
  startup?: Buffer;
}

/**
 * A TCP proxy on 127.0.0.1 in front of a server, which a test can cut and
 * restore: the service behind it sees its database become unreachable (open
 * connections reset, new ones refused) and come back, while the real server
 * keeps serving every other test.
 */
export class TcpProxy {
  private server?: Server;
  private readonly bridges = new Set<Bridge>();

  private constructor(
    readonly port: number,
    private readonly target: ProxyTarget,
  ) {}

  static async start(target: ProxyTarget): Promise<TcpProxy> {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const proxy = new TcpProxy(port, target);
    await proxy.up();
    return proxy;
  }

  async up(): Promise<void> {
    if (this.server) return;
    const server = createServer((client) => {
      const upstream = createConnection(this.target);
      const bridge: Bridge = { client, upstream };
      this.bridges.add(bridge);
      client.once('data', (chunk: Buffer) => (bridge.startup = chunk));
      for (const socket of [client, upstream]) {
        socket.on('close', () => this.bridges.delete(bridge));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.server = server;
  }

  /**
   * The open connections go silent — nothing is forwarded either way and
   * nothing is closed, as when a NAT forgets a flow — while new ones work.
   * With `startupContains`, only the connections whose startup message holds
   * that text (a PostgreSQL `application_name`, say); returns how many froze.
   */
  freeze(startupContains?: string): number {
    let frozen = 0;
    for (const { client, upstream, startup } of this.bridges) {
      if (startupContains !== undefined && !startup?.includes(startupContains)) continue;
      for (const socket of [client, upstream]) {
        socket.unpipe();
        socket.pause();
      }
      frozen++;
    }
    return frozen;
  }

  /** Refuses new connections and resets the open ones. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const { client, upstream } of this.bridges) {
      client.resetAndDestroy(); // what the service sees; a Unix socket upstream has no reset
      upstream.destroy();
    }
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
