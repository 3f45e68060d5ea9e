import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openPostgres } from '../../src/database/database.connection.js';
import { AuditEventsRepository } from '../../src/database/audit-events.repository.js';
import type { DatabaseConnection } from '../../src/database/database.types.js';
import {
  RETENTION_BATCH,
  RETENTION_LOCK_KEY,
  RetentionService,
} from '../../src/retention/retention.service.js';
import {} from '../support/http.js';
import { createTestApp, freshDatabase, type TestApp, useTestApp } from '../support/test-app.js';
import { NO_THROTTLE } from '../support/tokens.js';

async function rows<T>(db: DatabaseConnection, query: ReturnType<typeof sql>): Promise<T[]> {
  const result: unknown = await db.db.execute(query);
  return (result as { rows: T[] }).rows;
}

async function count(db: DatabaseConnection, query: ReturnType<typeof sql>): Promise<number> {
  return (await rows<{ n: number }>(db, query))[0]!.n;
}

/** `n` audit events of type `type`, created `age` ago (an SQL interval). */
async function insertEvents(db: DatabaseConnection, n: number, type: string, age: string): Promise<void> {
  await db.db.execute(
    sql`insert into audit_events (id, type, created_at)
        select gen_random_uuid(), ${type}, now() - ${age}::interval from generate_series(1, ${n})`,
  );
}

describe('the retention job', () => {
  const { t, http } = useTestApp({ ...NO_THROTTLE, AUDIT_RETENTION: '400d' });

  it('deletes audit events older than AUDIT_RETENTION, in batches, and keeps newer ones', async () => {
    const old = 2 * RETENTION_BATCH + 500; // more than one batch
    await insertEvents(t.connection, old, 'test_old', '401 days');
    await insertEvents(t.connection, 20, 'test_kept', '399 days');
    const user = await http.signup(); // and events of today
    const purge = vi.spyOn(t.app.get(AuditEventsRepository), 'purgeOlderThan');

    const round = await t.app.get(RetentionService).runOnce();

    expect(round).toMatchObject({ ran: true, auditEvents: old });
    // Batches: no statement deleted more than one batch.
    expect(purge.mock.calls.length).toBe(Math.ceil((old + 1) / RETENTION_BATCH));
    for (const result of purge.mock.results) expect(await result.value).toBeLessThanOrEqual(RETENTION_BATCH);
    purge.mockRestore();
    expect(
      await count(t.connection, sql`select count(*)::int as n from audit_events where type = 'test_old'`),
    ).toBe(0);
    expect(
      await count(t.connection, sql`select count(*)::int as n from audit_events where type = 'test_kept'`),
    ).toBe(20);
    expect(
      await count(t.connection, sql`select count(*)::int as n from audit_events where user_id = ${user.id}`),
    ).toBe(1);
  });

  it('purges sessions past their absolute end with their refresh tokens; the others stay', async () => {
    const user = await http.signup();
    // Ended sessions (past their absolute end, revoked or not), two refresh tokens each.
    const ended = RETENTION_BATCH + 200;
    await t.connection.db.execute(
      sql`insert into sessions (id, user_id, created_at, last_used_at, expires_at, revoked_at)
          select gen_random_uuid(), ${user.id}, now() - interval '31 days', now() - interval '20 days',
                 now() - interval '1 day', case when g % 2 = 0 then now() - interval '20 days' end
          from generate_series(1, ${ended}) g`,
    );
    await t.connection.db.execute(
      sql`insert into refresh_tokens (token_hash, session_id, generation)
          select decode(md5(s.id::text || g), 'hex'), s.id, g
          from sessions s, generate_series(0, 1) g where s.expires_at < now()`,
    );
    // Revoked or idle, but before their absolute end: kept until then.
    await t.connection.db.execute(
      sql`insert into sessions (id, user_id, created_at, last_used_at, expires_at, revoked_at)
          values (gen_random_uuid(), ${user.id}, now(), now(), now() + interval '1 day', now()),
                 (gen_random_uuid(), ${user.id}, now() - interval '10 days', now() - interval '9 days',
                  now() + interval '20 days', null)`,
    );
    const before = await count(t.connection, sql`select count(*)::int as n from sessions`);

    const round = await t.app.get(RetentionService).runOnce();

    expect(round).toMatchObject({ ran: true, sessions: ended, refreshTokens: 2 * ended });
    expect(
      await count(t.connection, sql`select count(*)::int as n from sessions where expires_at < now()`),
    ).toBe(0);
    expect(await count(t.connection, sql`select count(*)::int as n from sessions`)).toBe(before - ended);
    expect(
      await count(
        t.connection,
        sql`select count(*)::int as n from refresh_tokens r where not exists (select 1 from sessions s where s.id = r.session_id)`,
      ),
    ).toBe(0);
    // The user's live session still works, refresh included.
    expect((await http.get('/users/me', { token: user.accessToken })).status).toBe(200);
    expect((await http.post('/auth/refresh', { body: { refreshToken: user.refreshToken } })).status).toBe(
      200,
    );
  });

  it('purges links a day after they ended or expired, sent and cancelled mail after a week, failed mail after 30 days', async () => {
    const user = await http.signup();
    await t.app.get(RetentionService).runOnce(); // what earlier tests left
    await t.connection.db.execute(
      sql`insert into link_tokens (id, user_id, kind, email, token_hash, created_at, expires_at, ended_at, ended_reason)
          values (gen_random_uuid(), ${user.id}, 'password_reset', 'x@example.com', null, now() - interval '3 days', now() - interval '2 days', null, null),
                 (gen_random_uuid(), ${user.id}, 'password_reset', 'x@example.com', null, now() - interval '3 days', now() + interval '1 day', now() - interval '2 days', 'used'),
                 (gen_random_uuid(), ${user.id}, 'password_reset', 'x@example.com', null, now() - interval '1 hour', now() - interval '1 minute', null, null),
                 (gen_random_uuid(), ${user.id}, 'password_reset', 'x@example.com', null, now(), now() + interval '1 hour', null, null)`,
    );
    await t.connection.db.execute(
      sql`insert into mail_outbox (id, kind, recipient, status, created_at, finished_at)
          values (gen_random_uuid(), 'test', 'old-sent@example.com', 'sent', now() - interval '8 days', now() - interval '8 days'),
                 (gen_random_uuid(), 'test', 'old-cancelled@example.com', 'cancelled', now() - interval '8 days', now() - interval '8 days'),
                 (gen_random_uuid(), 'test', 'old-failed@example.com', 'failed', now() - interval '31 days', now() - interval '31 days'),
                 (gen_random_uuid(), 'test', 'kept-failed@example.com', 'failed', now() - interval '8 days', now() - interval '8 days'),
                 (gen_random_uuid(), 'test', 'kept-sent@example.com', 'sent', now() - interval '6 days', now() - interval '6 days'),
                 (gen_random_uuid(), 'test', 'kept-pending@example.com', 'pending', now() - interval '40 days', null)`,
    );

    const round = await t.app.get(RetentionService).runOnce();

    expect(round).toMatchObject({ ran: true, linkTokens: 2, mail: 3 });
    const recipients = await rows<{ recipient: string }>(
      t.connection,
      sql`select recipient from mail_outbox where kind = 'test' order by recipient`,
    );
    expect(recipients.map((row) => row.recipient)).toEqual([
      'kept-failed@example.com',
      'kept-pending@example.com',
      'kept-sent@example.com',
    ]);
    expect(
      await count(
        t.connection,
        sql`select count(*)::int as n from link_tokens where user_id = ${user.id} and kind = 'password_reset'`,
      ),
    ).toBe(2);
  });

  it('skips the round while another holds the lock, and runs once it is released', async () => {
    const url = (t.connection as DatabaseConnection & { url?: string }).url;
    expect(url).toBeDefined();
    const other = new pg.Client({ connectionString: url });
    await other.connect();
    try {
      await insertEvents(t.connection, 3, 'test_locked', '500 days');
      await other.query('select pg_advisory_lock($1)', [RETENTION_LOCK_KEY]);
      expect(await t.app.get(RetentionService).runOnce()).toEqual({ ran: false });
      expect(
        await count(
          t.connection,
          sql`select count(*)::int as n from audit_events where type = 'test_locked'`,
        ),
      ).toBe(3);
      await other.query('select pg_advisory_unlock($1)', [RETENTION_LOCK_KEY]);
      expect(await t.app.get(RetentionService).runOnce()).toMatchObject({ ran: true, auditEvents: 3 });
    } finally {
      await other.end();
    }
  });
});

describe('the retention job on two instances sharing one database', () => {
  let a: TestApp;
  let b: TestApp;
  let shared: DatabaseConnection & { url: string };
  beforeAll(async () => {
    shared = await freshDatabase();
    a = await createTestApp({}, { connection: shared });
    b = await createTestApp({}, { connection: await openPostgres(shared.url, 4) });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close(); // drops the database
  });

  it('never runs a round on both at once, and deletes each row once', async () => {
    const old = 10 * RETENTION_BATCH;
    await insertEvents(shared, old, 'test_shared', '401 days');
    // Every batch each instance runs, with when it ran.
    const spans: { app: string; start: number; end: number }[] = [];
    for (const [name, app] of [
      ['a', a],
      ['b', b],
    ] as const) {
      const repository = app.app.get(AuditEventsRepository);
      const original = repository.purgeOlderThan.bind(repository);
      vi.spyOn(repository, 'purgeOlderThan').mockImplementation(async (...args) => {
        const start = performance.now();
        try {
          return await original(...args);
        } finally {
          spans.push({ app: name, start, end: performance.now() });
        }
      });
    }

    const rounds: { app: string; round: Awaited<ReturnType<RetentionService['runOnce']>> }[] = [];
    for (let i = 0; i < 5; i++) {
      const [ra, rb] = await Promise.all([
        a.app.get(RetentionService).runOnce(),
        b.app.get(RetentionService).runOnce(),
      ]);
      rounds.push({ app: 'a', round: ra }, { app: 'b', round: rb });
      if (i === 0) await insertEvents(shared, RETENTION_BATCH, 'test_shared', '401 days');
    }
    vi.restoreAllMocks();

    // While one instance ran a batch, the other ran none: rounds may alternate, never overlap.
    const batchesOf = (app: string) => spans.filter((s) => s.app === app);
    for (const x of batchesOf('a')) {
      for (const y of batchesOf('b')) {
        expect(x.end <= y.start || y.end <= x.start, 'a batch of a overlapped a batch of b').toBe(true);
      }
    }
    const deleted = rounds.reduce((sum, r) => sum + (r.round.ran ? r.round.auditEvents : 0), 0);
    expect(deleted).toBe(old + RETENTION_BATCH);
    // At least once the two asked at the same time and one of them skipped.
    expect(rounds.some((r) => !r.round.ran)).toBe(true);
    expect(
      await count(shared, sql`select count(*)::int as n from audit_events where type = 'test_shared'`),
    ).toBe(0);
  });
});
