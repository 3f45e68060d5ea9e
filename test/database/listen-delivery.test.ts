import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openPostgres } from '../../src/database/database.connection.js';
import type { DatabaseConnection } from '../../src/database/database.types.js';
import { recorder } from '../support/listen-recorder.js';
import { NotificationDroppingProxy } from '../support/notification-dropping-proxy.js';
import { createPostgresDatabase } from '../support/services.js';

/**
 * Behind a pooler in transaction mode (PgBouncer), LISTEN succeeds and every
 * query is answered, yet no notification ever comes back: an instance that
 * trusted such a connection would keep serving revoked sessions from its
 * cache. The heartbeat must prove delivery — a NOTIFY of its own, sent through
 * the pool, has to come back — and report the connection lost otherwise.
 * Runs on the run's test server (the embedded one, or PostgreSQL).
 */

describe('LISTEN connection: the heartbeat proves delivery', () => {
  let drop: () => Promise<void>;
  let proxy: NotificationDroppingProxy;
  let deaf: DatabaseConnection;
  let direct: DatabaseConnection;
  let other: DatabaseConnection;

  beforeAll(async () => {
    const database = await createPostgresDatabase({ serverUrl: inject('testServerUrl') });
    drop = database.drop;
    proxy = await NotificationDroppingProxy.start(database.url);
    deaf = await openPostgres(proxy.url(database.url), 2);
    direct = await openPostgres(database.url, 2);
    other = await openPostgres(database.url, 2);
  });
  afterAll(async () => {
    await deaf?.close().catch(() => {});
    await direct?.close();
    await other?.close();
    await proxy?.close();
    await drop?.();
  });

  it('reports lost, within about two seconds, a connection that answers queries but delivers no notification', async () => {
    const { handlers, waitFor, events } = recorder();
    const stop = deaf.listen('delivery_test', handlers);
    try {
      const listeningAt = await waitFor('listening', 0, 5_000);
      // It does answer: the liveness query alone would trust it forever.
      await deaf.probe(1_000);
      const lostAt = await waitFor('lost', listeningAt, 5_000);
      console.log(`deaf LISTEN connection reported lost after ${Math.round(lostAt - listeningAt)} ms`);
      expect(lostAt - listeningAt).toBeLessThan(3_000);
      expect(proxy.dropped).toBeGreaterThan(0);
      // It keeps trying, and keeps finding the connection deaf: never trusted for long.
      const againAt = await waitFor('listening', lostAt, 5_000);
      await waitFor('lost', againAt, 5_000);
      expect(events.some((e) => e.what === 'notification')).toBe(false);
      // Its answered queries never counted as proof that it had heard everything.
      expect(events.some((e) => e.what === 'heard')).toBe(false);
    } finally {
      await stop();
    }
  });

  it('keeps a working connection, and hands no heartbeat — its own or another listener’s — to the handlers', async () => {
    const first = recorder();
    const second = recorder();
    const stopFirst = direct.listen('delivery_shared', first.handlers);
    const stopSecond = other.listen('delivery_shared', second.handlers);
    try {
      const startedAt = Math.max(
        await first.waitFor('listening', 0, 5_000),
        await second.waitFor('listening', 0, 5_000),
      );
      // Several beats of both, each seen by both connections.
      await expect(first.waitFor('lost', startedAt, 3_500)).rejects.toThrow(/no lost/);
      expect(second.events.some((e) => e.what === 'lost')).toBe(false);
      await direct.db.execute(`select pg_notify('delivery_shared', '{"session":"s-1"}')`);
      await first.waitFor('notification', startedAt, 2_000);
      await second.waitFor('notification', startedAt, 2_000);
      // And each keeps proving it has heard everything, several times a second.
      for (const { events } of [first, second]) {
        expect(events.filter((e) => e.what === 'heard' && e.at > startedAt).length).toBeGreaterThan(3);
      }
      for (const { events } of [first, second]) {
        expect(events.filter((e) => e.what === 'notification').map((e) => e.payload)).toEqual([
          '{"session":"s-1"}',
        ]);
      }
    } finally {
      await stopFirst();
      await stopSecond();
    }
  });
});
