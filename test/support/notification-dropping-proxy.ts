import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { postgresTarget, type ProxyTarget, viaProxy } from './tcp-proxy.js';

/** PostgreSQL protocol: the message type of a NotificationResponse (server → client). */
const NOTIFICATION_RESPONSE = 0x41; // 'A'

export interface Notification {
  channel: string;
  payload: string;
}

/**
 * A TCP proxy on 127.0.0.1 in front of a PostgreSQL server that forwards
 * everything except NotificationResponse messages: the connections behind it
 * answer every query, and LISTEN succeeds, but no notification ever arrives —
 * what a pooler in transaction mode (PgBouncer) does to a LISTEN connection.
 * `dropOnly` narrows that to some notifications (one lost message on an
 * otherwise healthy connection). Plain-text connections only (no SSLRequest:
 * the server's stream is typed messages from its first byte).
 */
export class NotificationDroppingProxy {
  private readonly sockets = new Set<Socket>();
  /** NotificationResponse messages dropped so far. */
  dropped = 0;
  private drops: (notification: Notification) => boolean = () => true;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** In front of the server a connection string names (over TCP, or its Unix socket). */
  static async start(serverUrl: string): Promise<NotificationDroppingProxy> {
    const target = postgresTarget(serverUrl);
    const holder: { proxy?: NotificationDroppingProxy } = {};
    const server = createServer((client) => holder.proxy?.bridge(client, target));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    holder.proxy = new NotificationDroppingProxy(server, (server.address() as { port: number }).port);
    return holder.proxy;
  }

  /** `serverUrl` with its database, through this proxy. */
  url(serverUrl: string): string {
    return viaProxy(serverUrl, this.port);
  }

  /** From now on, drops only the notifications `drops` picks and forwards the others. */
  dropOnly(drops: (notification: Notification) => boolean): void {
    this.drops = drops;
  }

  private bridge(client: Socket, target: ProxyTarget): void {
    const upstream = createConnection(target);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    let pending = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      const out: Buffer[] = [];
      while (pending.length >= 5) {
        const length = 1 + pending.readInt32BE(1);
        if (pending.length < length) break;
        const message = pending.subarray(0, length);
        pending = pending.subarray(length);
        if (message[0] === NOTIFICATION_RESPONSE && this.drops(parseNotification(message))) this.dropped++;
        else out.push(message);
      }
      if (out.length > 0) client.write(Buffer.concat(out));
    });
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A NotificationResponse: type, length, the sender's process id, then channel and payload (C strings). */
function parseNotification(message: Buffer): Notification {
  const channelEnd = message.indexOf(0, 9);
  const payloadEnd = message.indexOf(0, channelEnd + 1);
  return {
    channel: message.toString('utf8', 9, channelEnd),
    payload: message.toString('utf8', channelEnd + 1, payloadEnd),
  };
}
