import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { FastifyAdapter } from '@nestjs/platform-fastify';

/** Event-loop turns given to connections and requests already queued before the server stops listening. */
const DRAIN_TURNS = 3;

/**
 * Nest's Fastify adapter, closed without dropping what clients already sent.
 *
 * Closing the HTTP server at once resets two kinds of connections whose
 * request was sent before the shutdown began: those still in the kernel's
 * accept queue (the listening socket closes under them), and those accepted
 * but not read yet (Node closes every connection without a request in
 * progress as idle). A few event-loop turns first let the server accept the
 * queue and read what arrived; those requests are then in progress, and the
 * close waits for them.
 *
 * Use with Fastify's `return503OnClosing: false`: a request that reaches the
 * router while the server closes is then served (with `Connection: close`)
 * instead of getting Fastify's own 503, which is not the contract's error
 * shape. The database closes only after the HTTP server, so it can be served.
 *
 * A request already in progress when the close begins is answered with
 * `Connection: close` too: Node ends idle keep-alive connections only at that
 * moment, so the connection of an answer sent later would stay open, and the
 * close would wait on it for the keep-alive timeout (Fastify's 72 s), and the
 * database with it.
 */
export class GracefulFastifyAdapter extends FastifyAdapter {
  private readonly connections = this.trackConnections();

  /** Runs as a field initialiser, so after Nest's constructor has made the server. */
  private trackConnections(): {
    /** Connections that have not carried a request yet (a browser's preconnect, say). */
    unused: Set<Socket>;
    /** Responses to requests in progress. */
    answering: Set<ServerResponse>;
  } {
    const unused = new Set<Socket>();
    const answering = new Set<ServerResponse>();
    const server = this.getInstance().server;
    server.on('connection', (socket: Socket) => {
      unused.add(socket);
      socket.once('close', () => unused.delete(socket));
    });
    server.on('request', (request: { socket: Socket }, response: ServerResponse) => {
      unused.delete(request.socket);
      answering.add(response);
      response.once('close', () => answering.delete(response));
    });
    return { unused, answering };
  }

  override async close(): Promise<void> {
    for (let turn = 0; turn < DRAIN_TURNS; turn++) await nextTurn();
    for (const response of this.connections.answering) {
      if (!response.headersSent) response.setHeader('connection', 'close');
    }
    // Node counts a connection that never sent a request as busy, not idle: the close would wait
    // for it until a timeout (minutes). Once the queued requests are read, none of these has one.
    const closing = super.close();
    for (const socket of this.connections.unused) socket.destroy();
    await closing;
  }
}
