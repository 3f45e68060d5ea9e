import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { LISTEN_APPLICATION_NAME, openDatabase } from '../../src/database/database.connection.js';
import { SigningKeysRepository } from '../../src/database/signing-keys.repository.js';
import { SigningKeysService } from '../../src/keys/signing-keys.service.js';
import { AUTH_CHANGE_CHANNEL, AuthStateService } from '../../src/sessions/auth-state.service.js';
import { ROOT_EMAIL, ROOT_PASSWORD, signinRoot } from '../support/admin.js';
import { expectError, Http } from '../support/http.js';
import { NotificationDroppingProxy } from '../support/notification-dropping-proxy.js';
import { describeWithPostgres } from '../support/server-suites.js';
import { createPostgresDatabase, E2E_ON_POSTGRES } from '../support/services.js';
import { postgresTarget, TcpProxy, viaProxy } from '../support/tcp-proxy.js';
import { createTestApp, type TestApp } from '../support/test-app.js';
import { createClient, postForm } from '../support/oauth.js';
import { decodeJwt, kidOf } from '../support/tokens.js';

/**
 * Instances hear revocations made elsewhere through LISTEN/NOTIFY. These
 * tests make sure none is heard — a LISTEN connection that dies silently, a
 * change that fires no row trigger, a notification lost on the way — and
 * check the promise that still holds: a request sent 0.6 s after a revocation
 * (of a session, or of a signing key) committed is refused by every instance,
 * and a revocation whose notification
 * is lost outright is refused once SESSION_CACHE_TTL has passed.
 */

/**
 * How long after a revocation commits every instance refuses the token: the exact bound of
 * docs/operations.md (0.6 s, the heartbeat's trust window; the README promises 1 s). Not a timing
 * guess: an instance serves from its cache only while its latest proof was sent less than 0.6 s
 * ago, so a loaded machine delays answers, never the bound. Without the window, a silent
 * connection's loss is noticed only after about a second, which the README's 1 s would let pass.
 */
const EVERY_INSTANCE_MS = 600;
/** The TTL of the instance whose notification is dropped; the others' is long, so only the channel counts. */
const SHORT_TTL = '2s';
const SHORT_TTL_MS = 2_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

async function until(check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const started = performance.now();
  while (!check()) {
    if (performance.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(5);
  }
}

interface Probe {
  /** When the request was sent, in ms after the revocation committed. */
  sentAt: number;
  status: number;
}

/**
 * Sends `GET /users/me` with `token` (or `send`, which answers a status), one request after another,
 * until `forMs` after `since`.
 */
async function probe(
  http: Http,
  token: string,
  since: number,
  forMs: number,
  send = async () => (await http.get('/users/me', { token })).status,
): Promise<Probe[]> {
  const probes: Probe[] = [];
  while (performance.now() - since < forMs) {
    const sentAt = performance.now() - since;
    probes.push({ sentAt: Math.round(sentAt), status: await send() });
    await sleep(10);
  }
  return probes;
}

/** What the bound forbids: a request sent at or after `boundMs` that was not refused. */
function expectRefusedFrom(probes: Probe[], boundMs: number, label: string): void {
  const late = probes.filter((p) => p.sentAt >= boundMs);
  expect(late.length, `${label}: requests sent after ${boundMs} ms`).toBeGreaterThan(0);
  // "sent at ms → status", compact: a failure lists every offending request.
  expect(
    late.filter((p) => p.status !== 401).map((p) => `${p.sentAt} ms → ${p.status}`),
    `${label}: answers other than 401 to requests sent ${boundMs} ms or more after the revocation`,
  ).toEqual([]);
  const accepted = probes.filter((p) => p.status === 200).map((p) => p.sentAt);
  console.log(`${label}: last accepted at ${accepted.length ? `${Math.max(...accepted)} ms` : 'never'}`);
}

/**
 * Three instances on one database: A connects directly; B's connections pass a
 * proxy that can freeze them; C's pass a proxy that can drop chosen notifications.
 */
function missedNotificationSuite(createDatabase: () => Promise<{ url: string; drop: () => Promise<void> }>) {
  let drop: () => Promise<void>;
  let freezer: TcpProxy;
  let dropper: NotificationDroppingProxy;
  const instances: TestApp[] = [];
  let a: TestApp;
  let b: TestApp;
  let httpA: Http;
  let httpB: Http;
  let httpC: Http;

  beforeAll(async () => {
    const database = await createDatabase();
    drop = database.drop;
    freezer = await TcpProxy.start(postgresTarget(database.url));
    dropper = await NotificationDroppingProxy.start(database.url);
    dropper.dropOnly(() => false); // until the test picks its victim
    const instance = async (url: string, ttl: string, env = {}) => {
      const connection = await openDatabase({ url, poolSize: 4, dataDir: '' });
      const app = await createTestApp({ SESSION_CACHE_TTL: ttl, ...env }, { connection });
      instances.push(app);
      return app;
    };
    // A has an admin, who revokes a signing key.
    a = await instance(database.url, '1m', { ADMIN_EMAIL: ROOT_EMAIL, ADMIN_PASSWORD: ROOT_PASSWORD });
    b = await instance(viaProxy(database.url, freezer.port), '1m');
    const c = await instance(dropper.url(database.url), SHORT_TTL);
    httpA = new Http(a.app);
    httpB = new Http(b.app);
    httpC = new Http(c.app);
    await until(() => instances.every((app) => app.app.get(AuthStateService).cachingEnabled));
  });
  afterAll(async () => {
    for (const app of instances) await app.close().catch(() => {});
    await freezer?.down();
    await dropper?.close();
    await drop?.();
  });

  it('a LISTEN connection that goes silent at the moment of a revocation: the other instance refuses the token 0.6 s later', async () => {
    const user = await httpA.signup();
    expect((await httpB.get('/users/me', { token: user.accessToken })).status).toBe(200); // cached on B
    // B's LISTEN connections stop forwarding, with no reset and no close (a NAT forgetting the flow).
    expect(freezer.freeze(LISTEN_APPLICATION_NAME)).toBeGreaterThan(0);
    expect((await httpA.post('/auth/signout', { token: user.accessToken })).status).toBe(204);
    const revokedAt = performance.now();
    expectRefusedFrom(
      await probe(httpB, user.accessToken, revokedAt, 4_000),
      EVERY_INSTANCE_MS,
      'frozen LISTEN',
    );
  });

  it('a signing key revoked as the LISTEN connection goes silent: the other instance refuses its tokens 0.6 s later, cached and introspected, at a few key reads a second', async () => {
    const admin = await signinRoot(httpA);
    const inspector = await createClient(httpA, admin.accessToken, ['introspect']);
    const user = await httpA.signup();
    const kid = kidOf(user.accessToken)!;
    expect(kidOf(admin.accessToken)).toBe(kid); // the key signing now, which the revocation replaces
    const introspected = async () => {
      const reply = await postForm(httpB, '/oauth/introspect', { token: user.accessToken }, inspector);
      // Inactive as the bound's 401, active as 200; any other answer is reported as it is.
      return reply.status !== 200 ? reply.status : reply.body.active === false ? 401 : 200;
    };
    // B listens again (the first test froze its connections), trusts its key channel, and has
    // verified and cached the token: without a fresh read, the cache would keep accepting it.
    const keysB = b.app.get(SigningKeysService);
    await until(() => keysB.channelTrusted);
    expect((await httpB.get('/users/me', { token: user.accessToken })).status).toBe(200);
    expect(await introspected()).toBe(200);

    const reads = vi.spyOn(b.app.get(SigningKeysRepository), 'listByAlg');
    const frozenAt = performance.now();
    expect(freezer.freeze(LISTEN_APPLICATION_NAME)).toBeGreaterThan(0);
    // The session lives on: only the key can make B refuse the token.
    const revoked = await httpA.post(`/keys/${kid}/revoke`, { token: admin.accessToken, body: {} });
    expect(revoked.status, revoked.text).toBe(200);
    const revokedAt = performance.now();
    const [me, introspection] = await Promise.all([
      probe(httpB, user.accessToken, revokedAt, 3_000),
      probe(httpB, user.accessToken, revokedAt, 3_000, introspected),
    ]);
    const elapsed = performance.now() - frozenAt;
    const readCount = reads.mock.calls.length;
    reads.mockRestore();
    expectRefusedFrom(me, EVERY_INSTANCE_MS, 'key revoked, frozen LISTEN, GET /users/me');
    expectRefusedFrom(introspection, EVERY_INSTANCE_MS, 'key revoked, frozen LISTEN, introspection');
    expectError(await httpB.get('/users/me', { token: user.accessToken }), 401, 'invalid_token');
    // Not a read per request: one shared by the requests of each 0.2 s, and the once-a-second re-read.
    const requests = me.length + introspection.length;
    console.log(`key reads on B: ${readCount} in ${Math.round(elapsed)} ms, for ${requests} requests`);
    expect(readCount).toBeLessThanOrEqual(Math.ceil(elapsed / 200) + Math.ceil(elapsed / 1_000) + 3);
  });

  it('a session revoked with session_replication_role = replica is refused by every instance 0.6 s later', async () => {
    const user = await httpA.signup();
    const { sid } = decodeJwt(user.accessToken).payload as { sid: string };
    for (const http of [httpA, httpB]) {
      expect((await http.get('/users/me', { token: user.accessToken })).status).toBe(200);
    }
    // As logical-replication apply and restore tools write: ordinary triggers do not fire.
    await a.connection.db.transaction(async (tx) => {
      await tx.execute(sql`set local session_replication_role = replica`);
      await tx.execute(sql`update sessions set revoked_at = now() where id = ${sid}`);
    });
    const revokedAt = performance.now();
    const [onA, onB] = await Promise.all(
      [httpA, httpB].map((http) => probe(http, user.accessToken, revokedAt, 3_000)),
    );
    expectRefusedFrom(onA!, EVERY_INSTANCE_MS, 'replica-mode update, instance A');
    expectRefusedFrom(onB!, EVERY_INSTANCE_MS, 'replica-mode update, instance B');
  });

  it('a revocation whose notification is lost is refused once SESSION_CACHE_TTL has passed', async () => {
    const user = await httpA.signup();
    const { sid } = decodeJwt(user.accessToken).payload as { sid: string };
    // C hears every notification but this session's (heartbeats included: its channel stays trusted).
    dropper.dropOnly((n) => n.channel === AUTH_CHANGE_CHANNEL && n.payload.includes(sid));
    expect((await httpC.get('/users/me', { token: user.accessToken })).status).toBe(200); // cached on C
    expect((await httpA.post('/auth/signout', { token: user.accessToken })).status).toBe(204);
    const revokedAt = performance.now();
    const probes = await probe(httpC, user.accessToken, revokedAt, SHORT_TTL_MS + 2_000);
    expect(dropper.dropped, 'the revocation’s notification was dropped').toBeGreaterThan(0);
    expectRefusedFrom(probes, SHORT_TTL_MS, 'notification dropped');
  });

  it('every trigger fires in replica mode too, and each cached table notifies on TRUNCATE', async () => {
    const result: unknown = await a.connection.db.execute(
      sql`select c.relname as table, t.tgname as trigger, t.tgenabled as enabled
            from pg_trigger t join pg_class c on c.oid = t.tgrelid
           where not t.tgisinternal and c.relnamespace = 'public'::regnamespace
           order by 1, 2`,
    );
    const { rows } = result as { rows: { table: string; trigger: string; enabled: string }[] };
    // 'A': ENABLE ALWAYS (ordinary triggers are 'O', skipped when session_replication_role = replica).
    expect(rows.filter((row) => row.enabled !== 'A')).toEqual([]);
    expect(rows.map((row) => row.trigger)).toEqual(
      expect.arrayContaining([
        'sessions_notify_auth_truncate',
        'users_notify_auth_truncate',
        'signing_keys_notify_truncate',
      ]),
    );
  });

  it('TRUNCATE sessions CASCADE: every cached token is refused by every instance 0.6 s later', async () => {
    const users = [await httpA.signup(), await httpA.signup()];
    for (const http of [httpA, httpB]) {
      for (const user of users) {
        expect((await http.get('/users/me', { token: user.accessToken })).status).toBe(200);
      }
    }
    await a.connection.db.execute(sql`truncate sessions cascade`);
    const truncatedAt = performance.now();
    const probes = await Promise.all(
      [httpA, httpB].flatMap((http) =>
        users.map((user) => probe(http, user.accessToken, truncatedAt, 3_000)),
      ),
    );
    probes.forEach((p, i) => expectRefusedFrom(p, EVERY_INSTANCE_MS, `TRUNCATE, probe ${i + 1}`));
  });
}

describe("missed notifications: three instances on the run's test server", () => {
  missedNotificationSuite(() =>
    createPostgresDatabase({ serverUrl: inject('testServerUrl'), template: inject('templateDatabase') }),
  );
});

// The same on the PostgreSQL server, unless the run's test server is already that one.
(E2E_ON_POSTGRES ? describe.skip : describeWithPostgres)(
  'missed notifications: three instances on the PostgreSQL server',
  () => missedNotificationSuite(() => createPostgresDatabase()),
);
