import { afterAll, beforeAll, expect, it } from 'vitest';
import { openDatabase } from '../../src/database/database.connection.js';
import type { DatabaseConnection } from '../../src/database/database.types.js';
import { describeWithPostgres } from '../support/server-suites.js';
import { createPostgresDatabase } from '../support/services.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { recorder } from '../support/listen-recorder.js';

/**
 * The LISTEN connection that carries revocations between instances can die
 * without a reset (a NAT forgets the flow): nothing says so for hours unless
 * the service asks. Here the proxy silences it; the heartbeat must report the
 * loss (so the session cache stops being trusted) and listen again.
 */
describeWithPostgres('LISTEN connection heartbeat', () => {
  let drop: () => Promise<void>;
  let proxy: TcpProxy;
  let viaProxy: DatabaseConnection;
  let direct: DatabaseConnection;

  beforeAll(async () => {
    const database = await createPostgresDatabase();
    drop = database.drop;
    const url = new URL(database.url);
    proxy = await TcpProxy.start({ host: url.hostname, port: Number(url.port || 5432) });
    const proxied = new URL(database.url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(proxy.port);
    viaProxy = await openDatabase({ url: proxied.toString(), poolSize: 1, dataDir: '' });
    direct = await openDatabase({ url: database.url, poolSize: 1, dataDir: '' });
  });
  afterAll(async () => {
    await viaProxy?.close().catch(() => {});
    await direct?.close();
    await proxy?.down();
    await drop?.();
  });

  it('reports a silently dead connection within about two seconds, listens again, and hears what follows', async () => {
    const { events, handlers, waitFor } = recorder();
    const stop = viaProxy.listen('heartbeat_test', handlers);
    try {
      const listeningAt = await waitFor('listening', 0, 5_000);
      // Proofs of delivery keep coming while the connection is healthy.
      await waitFor('heard', listeningAt, 5_000);
      const frozenAt = performance.now();
      proxy.freeze();
      const lostAt = await waitFor('lost', frozenAt, 4_000);
      console.log(`silent LISTEN connection reported lost after ${Math.round(lostAt - frozenAt)} ms`);
      expect(lostAt - frozenAt).toBeLessThan(2_500);
      // Nothing sent after the freeze was answered, so nothing proves the silent connection heard it.
      const proofs = events.filter((e) => e.what === 'heard' && e.at < lostAt).map((e) => e.sentAt!);
      expect(Math.max(...proofs)).toBeLessThan(frozenAt);

      const relistenedAt = await waitFor('listening', lostAt, 5_000);
      await direct.db.execute(`select pg_notify('heartbeat_test', 'after the freeze')`);
      await waitFor('notification', relistenedAt, 2_000);
      expect(events.filter((e) => e.what === 'notification').map((e) => e.payload)).toEqual([
        'after the freeze',
      ]);
    } finally {
      await stop();
    }
  });
});
