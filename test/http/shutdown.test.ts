import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createTestApp } from '../support/test-app.js';

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
});
