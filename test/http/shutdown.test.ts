import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { GOOD_PASSWORD, uniqueEmail } from '../support/http.js';
import { createTestApp, freshDatabase } from '../support/test-app.js';

/**
 * Closing the service does not wait on a connection that never sent a request (a browser opens
 * such connections ahead of use): Node counts it as busy, and the close would hang until a timeout.
 */
describe('shutdown', () => {
  // Without the fix the close waits for Node's headers timeout (60–90 s): the bound catches it,
  // while a close on a busy machine takes seconds.
  it(
    'ends connections that never carried a request, and idle keep-alive ones',
    { timeout: 45_000 },
    async () => {
      const t = await createTestApp();
      let closed = false;
      const sockets: Socket[] = [];
      try {
        await t.app.listen(0, '127.0.0.1');
        const { port } = t.app.getHttpServer().address() as { port: number };
        const open = async () => {
          const socket = connect(port, '127.0.0.1');
          sockets.push(socket);
          await once(socket, 'connect');
          return socket;
        };
        const preconnected = await open();
        const keptAlive = await open();
        const answered = new Promise<string>((resolve) => {
          let text = '';
          keptAlive.on('data', (chunk: Buffer) => {
            text += chunk.toString('latin1');
            if (text.includes('\r\n\r\n')) resolve(text);
          });
        });
        keptAlive.write('GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n');
        expect(await answered).toMatch(/^HTTP\/1\.1 200 /);
        const ended = [once(preconnected, 'close'), once(keptAlive, 'close')];

        await t.close();
        closed = true;
        await Promise.all(ended);
      } finally {
        for (const socket of sockets) socket.destroy();
        if (!closed) await t.close();
      }
    },
  );

  // Without the fix the close waits for the keep-alive timeout (72 s) after the answer: the bound catches it.
  it(
    'answers a request in progress at the close with Connection: close, and does not wait on its connection after',
    { timeout: 45_000 },
    async () => {
      const database = await freshDatabase();
      const t = await createTestApp({}, { connection: database });
      const session = async () => {
        const client = new pg.Client({ connectionString: database.url });
        client.on('error', () => {}); // the database is dropped with the app
        await client.connect();
        return client;
      };
      const holder = await session();
      const observer = await session();
      let closed = false;
      let socket: Socket | undefined;
      try {
        await t.app.listen(0, '127.0.0.1');
        const { port } = t.app.getHttpServer().address() as { port: number };
        // A signup on a keep-alive connection (HTTP/1.1's default), held on the database by a lock.
        await holder.query('begin; lock table users in access exclusive mode');
        socket = connect(port, '127.0.0.1');
        await once(socket, 'connect');
        const answered = new Promise<string>((resolve) => {
          let text = '';
          socket!.on('data', (chunk: Buffer) => {
            text += chunk.toString('latin1');
            if (text.includes('\r\n\r\n')) resolve(text);
          });
        });
        const body = JSON.stringify({ email: uniqueEmail('closing'), password: GOOD_PASSWORD });
        socket.write(
          `POST /auth/signup HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
        const waiting = async () =>
          (await observer.query<{ n: number }>('select count(*)::int as n from pg_locks where not granted'))
            .rows[0]!.n > 0;
        while (!(await waiting())) await new Promise((resolve) => setTimeout(resolve, 20));
        const ended = once(socket, 'close');

        const closing = t.close();
        // The close has begun once the server stops accepting connections; then the lock goes.
        const refused = () =>
          new Promise<boolean>((resolve) => {
            const probe = connect(port, '127.0.0.1');
            probe.once('connect', () => {
              probe.destroy();
              resolve(false);
            });
            probe.once('error', () => resolve(true));
          });
        while (!(await refused())) await new Promise((resolve) => setTimeout(resolve, 20));
        await holder.query('rollback');

        const head = await answered;
        expect(head).toMatch(/^HTTP\/1\.1 201 /);
        expect(head.toLowerCase()).toContain('\r\nconnection: close\r\n');
        await ended;
        await closing;
        closed = true;
      } finally {
        socket?.destroy();
        await holder.end().catch(() => {});
        await observer.end().catch(() => {});
        if (!closed) await t.close();
      }
    },
  );
});
