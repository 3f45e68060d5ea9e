import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, sessions, users } from '../../src/database/schema.js';
import {
  collectPages,
  createAdminApp,
  expectNewestFirst,
  nextLink,
  patchUser,
  ROOT_PASSWORD,
  signinRoot,
} from '../support/admin.js';
import { type AuthBody, expectError, GOOD_PASSWORD, Http, type Reply, uniqueEmail } from '../support/http.js';
import type { TestApp } from '../support/test-app.js';
import { b64url, decodeJwt, UUID } from '../support/tokens.js';

const EVENT_KEYS = ['actorId', 'createdAt', 'detail', 'id', 'ip', 'type', 'userAgent', 'userId'];
const CLIENT_IP = '127.0.0.1'; // what Fastify's injection reports as the socket address
const USER_AGENT = `audit-test-user/1.0 (${process.pid})`;
const ADMIN_AGENT = `audit-test-admin/2.0 (${process.pid})`;
/** No TRUST_PROXY: a spoofed X-Forwarded-For must not become the recorded ip. */
const AS_USER = { 'user-agent': USER_AGENT, 'x-forwarded-for': '203.0.113.77' };
const AS_ADMIN = { 'user-agent': ADMIN_AGENT };
const NEW_PASSWORD = 'a brand new correct horse';
const WRONG_PASSWORD = 'not the right horse at all';

const sidOf = (token: string): string => decodeJwt(token).payload.sid;
const expectStatus = (reply: Reply, status: number) => expect(reply.status, reply.text).toBe(status);

async function eventCount(t: TestApp): Promise<number> {
  const [row] = await t.connection.db.select({ n: sql<number>`count(*)::int` }).from(auditEvents);
  return row!.n;
}

describe('audit events: one per security action, as it happened', () => {
  let t: TestApp;
  let http: Http;
  let admin: AuthBody;
  let user: AuthBody;
  const startedAt = Date.now();
  /** The types expected for the user, oldest first. */
  const expected: string[] = [];
  /** Every secret handed out or typed during the story. */
  const secrets = new Set<string>([GOOD_PASSWORD, ROOT_PASSWORD, NEW_PASSWORD, WRONG_PASSWORD]);
  const keep = (auth: { accessToken: string; refreshToken: string }) => {
    secrets.add(auth.accessToken);
    secrets.add(auth.refreshToken);
    return auth;
  };

  beforeAll(async () => {
    t = await createAdminApp({ REFRESH_REUSE_GRACE: '0' });
    http = new Http(t.app);
    admin = keep(await signinRoot(http, AS_ADMIN)) as AuthBody;
  });
  afterAll(() => t.close());

  const list = (query: string, token = admin.accessToken) => http.get(`/audit-events${query}`, { token });

  /** The newest event about `userId` (or of `type`), checked against what happened. */
  async function expectLatest(
    filter: { userId: string } | { type: string },
    want: {
      type: string;
      userId: string | null;
      actorId?: string | null;
      userAgent: string;
      detail?: object;
    },
  ) {
    const reply = await list(`?${new URLSearchParams({ ...filter, limit: '1' }).toString()}`);
    expectStatus(reply, 200);
    const [event] = reply.body;
    expect(Object.keys(event).sort()).toEqual(EVENT_KEYS);
    expect(event).toMatchObject({
      type: want.type,
      userId: want.userId,
      ip: CLIENT_IP,
      userAgent: want.userAgent,
    });
    if (want.actorId !== undefined) expect(event.actorId).toBe(want.actorId);
    if (want.detail) expect(event.detail).toMatchObject(want.detail);
    expect(event.id).toMatch(UUID);
    expect(event.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(Date.parse(event.createdAt)).toBeGreaterThanOrEqual(startedAt - 1000);
    expect(Date.parse(event.createdAt)).toBeLessThanOrEqual(Date.now() + 1000);
    if (want.userId !== null && 'userId' in filter) expected.push(want.type);
    return event;
  }

  it('records every action of the user and of the admin with type, subject, actor, ip, user agent and time', async () => {
    const email = uniqueEmail('audited');
    user = keep(await http.signup(email, GOOD_PASSWORD, AS_USER)) as AuthBody;
    const U = user.id;
    const mine = { userId: U };
    await expectLatest(mine, { type: 'signup', userId: U, actorId: U, userAgent: USER_AGENT });

    const s1 = keep(await http.signin(email, GOOD_PASSWORD, AS_USER));
    await expectLatest(mine, {
      type: 'signin_succeeded',
      userId: U,
      actorId: U,
      userAgent: USER_AGENT,
      detail: { sessionId: sidOf(s1.accessToken) },
    });

    const wrong = await http.post('/auth/signin', {
      body: { email, password: WRONG_PASSWORD },
      headers: AS_USER,
    });
    expectError(wrong, 401, 'invalid_credentials');
    await expectLatest(mine, {
      type: 'signin_failed',
      userId: U,
      userAgent: USER_AGENT,
      detail: { reason: 'wrong_password' },
    });

    const nobody = uniqueEmail('nobody');
    const unknown = await http.post('/auth/signin', {
      body: { email: nobody, password: WRONG_PASSWORD },
      headers: AS_USER,
    });
    expectError(unknown, 401, 'invalid_credentials');
    await expectLatest(
      { type: 'signin_failed' },
      {
        type: 'signin_failed',
        userId: null,
        actorId: null,
        userAgent: USER_AGENT,
        detail: { reason: 'unknown_email', email: nobody },
      },
    );

    // Reuse: a refresh token two generations old (no grace at all for it).
    const r2 = keep(
      (await http.post('/auth/refresh', { body: { refreshToken: s1.refreshToken }, headers: AS_USER })).body,
    );
    const r3 = await http.post('/auth/refresh', {
      body: { refreshToken: r2.refreshToken },
      headers: AS_USER,
    });
    expectStatus(r3, 200);
    keep(r3.body);
    const reused = await http.post('/auth/refresh', {
      body: { refreshToken: s1.refreshToken },
      headers: AS_USER,
    });
    expectError(reused, 401, 'refresh_token_reused');
    await expectLatest(mine, {
      type: 'refresh_token_reused',
      userId: U,
      userAgent: USER_AGENT,
      detail: { sessionId: sidOf(s1.accessToken) },
    });

    const s3 = keep(await http.signin(email, GOOD_PASSWORD, AS_USER));
    expected.push('signin_succeeded');
    expectStatus(await http.post('/auth/signout', { token: s3.accessToken, headers: AS_USER }), 204);
    await expectLatest(mine, {
      type: 'signout',
      userId: U,
      actorId: U,
      userAgent: USER_AGENT,
      detail: { sessionId: sidOf(s3.accessToken) },
    });

    const s4 = keep(await http.signin(email, GOOD_PASSWORD, AS_USER));
    const s5 = keep(await http.signin(email, GOOD_PASSWORD, AS_USER));
    expected.push('signin_succeeded', 'signin_succeeded');
    const s4Id = sidOf(s4.accessToken);
    expectStatus(
      await http.delete(`/auth/sessions/${s4Id}`, { token: s5.accessToken, headers: AS_USER }),
      204,
    );
    await expectLatest(mine, {
      type: 'session_revoked',
      userId: U,
      actorId: U,
      userAgent: USER_AGENT,
      detail: { sessionId: s4Id },
    });

    expectStatus(await http.post('/auth/signout/all', { token: s5.accessToken, headers: AS_USER }), 204);
    await expectLatest(mine, { type: 'signout_all', userId: U, actorId: U, userAgent: USER_AGENT });

    const s6 = keep(await http.signin(email, GOOD_PASSWORD, AS_USER));
    expected.push('signin_succeeded');
    const changed = await http.post('/auth/password', {
      token: s6.accessToken,
      body: { currentPassword: GOOD_PASSWORD, newPassword: NEW_PASSWORD },
      headers: AS_USER,
    });
    expectStatus(changed, 204);
    await expectLatest(mine, { type: 'password_changed', userId: U, actorId: U, userAgent: USER_AGENT });

    await patchUser(http, admin.accessToken, U, { roles: ['admin', 'user'] }, AS_ADMIN);
    await expectLatest(mine, {
      type: 'roles_changed',
      userId: U,
      actorId: admin.id,
      userAgent: ADMIN_AGENT,
      detail: { from: ['user'], to: ['admin', 'user'] },
    });
    await patchUser(http, admin.accessToken, U, { roles: ['user'] }, AS_ADMIN);
    await expectLatest(mine, {
      type: 'roles_changed',
      userId: U,
      actorId: admin.id,
      userAgent: ADMIN_AGENT,
      detail: { from: ['admin', 'user'], to: ['user'] },
    });

    await patchUser(http, admin.accessToken, U, { disabled: true }, AS_ADMIN);
    await expectLatest(mine, { type: 'user_disabled', userId: U, actorId: admin.id, userAgent: ADMIN_AGENT });

    const disabled = await http.post('/auth/signin', {
      body: { email, password: NEW_PASSWORD },
      headers: AS_USER,
    });
    expectError(disabled, 403, 'account_disabled');
    await expectLatest(mine, {
      type: 'signin_failed',
      userId: U,
      userAgent: USER_AGENT,
      detail: { reason: 'account_disabled' },
    });

    await patchUser(http, admin.accessToken, U, { disabled: false }, AS_ADMIN);
    await expectLatest(mine, { type: 'user_enabled', userId: U, actorId: admin.id, userAgent: ADMIN_AGENT });

    keep(await http.signin(email, NEW_PASSWORD, AS_USER));
    expected.push('signin_succeeded');
    expectStatus(
      await http.delete(`/users/${U}/sessions`, { token: admin.accessToken, headers: AS_ADMIN }),
      204,
    );
    await expectLatest(mine, {
      type: 'session_revoked',
      userId: U,
      actorId: admin.id,
      userAgent: ADMIN_AGENT,
    });

    // Collect the stored hashes before the account goes: no event may hold them.
    for (const row of await t.connection.db.select({ hash: users.passwordHash }).from(users))
      secrets.add(row.hash);
    expectStatus(await http.delete(`/users/${U}`, { token: admin.accessToken, headers: AS_ADMIN }), 204);
    await expectLatest(mine, { type: 'user_deleted', userId: U, actorId: admin.id, userAgent: ADMIN_AGENT });
  });

  it("keeps the user's events after the account is deleted, newest first, exactly the actions taken", async () => {
    expectError(await http.get(`/users/${user.id}`, { token: admin.accessToken }), 404, 'not_found');
    const reply = await list(`?userId=${user.id}&limit=100`);
    expectStatus(reply, 200);
    expectNewestFirst(reply.body);
    expect(reply.body.map((e: { type: string }) => e.type)).toEqual([...expected].reverse());
    for (const event of reply.body) expect(event.userId).toBe(user.id);
    const stored = await t.connection.db.select().from(auditEvents).where(eq(auditEvents.userId, user.id));
    expect(stored).toHaveLength(expected.length);
  });

  it('never holds a password, token or hash', async () => {
    const { pages } = await collectPages(http, '/audit-events?limit=100', admin.accessToken);
    const text = JSON.stringify(pages.flat());
    expect(pages.flat().length).toBeGreaterThan(expected.length);
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/\$argon2|gh_rt_|eyJ[A-Za-z0-9_-]{10,}\./);
    const stored = JSON.stringify(await t.connection.db.select().from(auditEvents));
    for (const secret of secrets) expect(stored).not.toContain(secret);
  });

  it('filters by ?type= (exact) and ?userId=, together or alone', async () => {
    const deleted = await list('?type=user_deleted');
    expectStatus(deleted, 200);
    expect(deleted.body.length).toBeGreaterThanOrEqual(1);
    for (const event of deleted.body) expect(event.type).toBe('user_deleted');
    expect(deleted.body.map((e: { userId: string }) => e.userId)).toContain(user.id);

    const both = await list(`?type=signin_succeeded&userId=${user.id}`);
    expect(both.body).toHaveLength(expected.filter((type) => type === 'signin_succeeded').length);
    for (const event of both.body) expect(event).toMatchObject({ type: 'signin_succeeded', userId: user.id });

    const adminOnly = await list(`?userId=${admin.id}`);
    expect(adminOnly.body.length).toBeGreaterThanOrEqual(2); // created at start, signed in
    for (const event of adminOnly.body) expect(event.userId).toBe(admin.id);

    for (const none of ['?type=signin', '?type=SIGNUP', '?type=signup%25', `?userId=${randomUUID()}`]) {
      const reply = await list(none);
      expectStatus(reply, 200);
      expect(reply.body).toEqual([]);
    }
  });

  it('pages with limit and Link: every event once, newest first, filters kept', async () => {
    // Two events of one transaction (same instant): a page boundary between them loses neither.
    const twice = await http.signup();
    await patchUser(http, admin.accessToken, twice.id, { roles: ['admin', 'user'], disabled: true });

    const whole = await list('?limit=100');
    expectStatus(whole, 200);
    expect(whole.body.length).toBeLessThan(100);
    expectNewestFirst(whole.body);
    for (const limit of [1, 2, 7]) {
      const { pages, links } = await collectPages(http, `/audit-events?limit=${limit}`, admin.accessToken);
      expect(pages.flat().map((e) => e.id)).toEqual(whole.body.map((e: { id: string }) => e.id));
      for (const link of links) expect(link).toMatch(new RegExp(`^/audit-events\\?limit=${limit}&cursor=`));
    }

    const { pages, links } = await collectPages(
      http,
      `/audit-events?userId=${twice.id}&limit=1`,
      admin.accessToken,
    );
    expect(pages.flat().map((e) => e.type)).toEqual(['user_disabled', 'roles_changed', 'signup']);
    for (const link of links) expect(new URL(link, 'http://x').searchParams.get('userId')).toBe(twice.id);

    const typed = await collectPages(http, '/audit-events?type=signin_succeeded&limit=2', admin.accessToken);
    for (const link of typed.links)
      expect(new URL(link, 'http://x').searchParams.get('type')).toBe('signin_succeeded');
    expect(typed.pages.flat().map((e) => e.id)).toEqual(
      whole.body
        .filter((e: { type: string }) => e.type === 'signin_succeeded')
        .map((e: { id: string }) => e.id),
    );
    expect(nextLink(await list('?limit=100'))).toBeUndefined();
  });

  it('pages through events recorded within one millisecond without skipping or repeating any', async () => {
    // now() has microsecond precision on PostgreSQL; three events written within one
    // millisecond (as the events of one transaction, or of concurrent requests, are).
    const type = `probe_${process.pid}_${Date.now()}`;
    for (const micro of ['000100', '000500', '000900']) {
      await t.connection.db.execute(
        sql`insert into audit_events (id, type, created_at, detail)
            values (${randomUUID()}, ${type}, ${`2001-02-03 04:05:06.${micro}+00`}, ${JSON.stringify({ micro })}::jsonb)`,
      );
    }
    const stored = await t.connection.db.execute(
      sql`select detail->>'micro' as micro from audit_events where type = ${type} order by created_at desc, id desc`,
    );
    const { pages } = await collectPages(http, `/audit-events?type=${type}&limit=1`, admin.accessToken);
    const seen = pages.flat().map((e) => e.detail.micro);
    expect(seen).toHaveLength(3);
    expect(seen).toEqual((stored as { rows: { micro: string }[] }).rows.map((row) => row.micro));
  });

  it('rejects bad query parameters with 400', async () => {
    for (const query of [
      '?limit=0',
      '?limit=101',
      '?limit=abc',
      '?cursor=garbage',
      `?cursor=${b64url('2020-13-45T00:00:00.000Z|' + randomUUID())}`,
      '?userId=not-a-uuid',
      '?userId=1',
      '?actorId=' + admin.id,
      '?foo=bar',
      `?type=${'x'.repeat(65)}`,
      '?type=a&type=b',
    ]) {
      expectError(await list(query), 400, 'validation_failed');
    }
  });

  it('rejects forged cursors and NUL characters with 400, never 500', async () => {
    for (const query of [
      `?cursor=${b64url(`2020-01-01T00:00:00.000Z|${'-'.repeat(36)}`)}`,
      `?cursor=${b64url(`0000-01-01T00:00:00.000Z|${randomUUID()}`)}`,
      '?type=%00',
    ]) {
      const reply = await list(query);
      expect(reply.status, `${query}: ${reply.text}`).toBe(400);
    }
  });

  it('is forbidden to a plain user, even about itself', async () => {
    const plain = await http.signup();
    for (const query of ['', `?userId=${plain.id}`, '?type=signup']) {
      expectError(await list(query, plain.accessToken), 403, 'forbidden');
    }
  });
});

describe('audit events: a failed action writes no event and changes nothing', () => {
  let t: TestApp;
  let http: Http;
  let admin: AuthBody;
  let user: AuthBody;

  beforeAll(async () => {
    t = await createAdminApp();
    http = new Http(t.app);
    admin = await signinRoot(http);
    user = await http.signup();
  });
  afterAll(() => t.close());

  const rowOf = async (id: string) => (await t.connection.db.select().from(users).where(eq(users.id, id)))[0];

  it('refused requests (409, 400, 401, 403, 404) and no-op changes leave the log and the state as they were', async () => {
    const before = await eventCount(t);
    const adminRow = await rowOf(admin.id);
    const userRow = await rowOf(user.id);
    const attempts: [() => Promise<Reply>, number][] = [
      [() => http.patch(`/users/${admin.id}`, { token: admin.accessToken, body: { roles: ['user'] } }), 409],
      [() => http.patch(`/users/${admin.id}`, { token: admin.accessToken, body: { disabled: true } }), 409],
      [() => http.delete(`/users/${admin.id}`, { token: admin.accessToken }), 409],
      [
        () => http.patch(`/users/${user.id}`, { token: admin.accessToken, body: { roles: ['superuser'] } }),
        400,
      ],
      [
        () => http.patch(`/users/${randomUUID()}`, { token: admin.accessToken, body: { disabled: true } }),
        404,
      ],
      [() => http.delete(`/users/${randomUUID()}`, { token: admin.accessToken }), 404],
      [() => http.delete(`/users/${randomUUID()}/sessions`, { token: admin.accessToken }), 404],
      [() => http.delete(`/auth/sessions/${sidOf(admin.accessToken)}`, { token: user.accessToken }), 404],
      [() => http.patch(`/users/${user.id}`, { token: user.accessToken, body: { roles: ['admin'] } }), 403],
      [() => http.delete(`/users/${admin.id}/sessions`, { token: user.accessToken }), 403],
      [
        () =>
          http.post('/auth/password', {
            token: user.accessToken,
            body: { currentPassword: GOOD_PASSWORD, newPassword: 'password' },
          }),
        400,
      ],
      [() => http.post('/auth/signup', { body: { email: user.email, password: GOOD_PASSWORD } }), 409],
      [
        () =>
          http.post('/auth/signup', {
            body: { email: uniqueEmail(), password: GOOD_PASSWORD, roles: ['admin'] },
          }),
        400,
      ],
      [() => http.post('/auth/signout', {}), 401],
    ];
    for (const [attempt, status] of attempts) {
      const reply = await attempt();
      expect(reply.status, reply.text).toBe(status);
    }
    // Changes to what already is: 200, but nothing happened, so nothing to record.
    await patchUser(http, admin.accessToken, user.id, { roles: ['user'], disabled: false });
    await patchUser(http, admin.accessToken, admin.id, { roles: ['user', 'admin'] });

    expect(await eventCount(t)).toBe(before);
    expect(await rowOf(admin.id)).toEqual(adminRow);
    expect(await rowOf(user.id)).toEqual(userRow);
    for (const auth of [admin, user])
      expectStatus(await http.get('/users/me', { token: auth.accessToken }), 200);
  });

  describe('when the event cannot be written, the change is rolled back with it (one transaction)', () => {
    beforeAll(async () => {
      // A fault in the audit log, injected in the database: inserting an event of a
      // type listed in audit_fail raises, as a full disk or a lost connection would.
      await t.connection.db.execute(sql`create table audit_fail (type text primary key)`);
      await t.connection.db.execute(sql`
        create function audit_fail_check() returns trigger language plpgsql as $$
        begin
          if exists (select 1 from audit_fail where type = new.type) then
            raise exception 'injected audit failure';
          end if;
          return new;
        end $$`);
      await t.connection.db.execute(
        sql`create trigger audit_fail_trigger before insert on audit_events for each row execute function audit_fail_check()`,
      );
    });

    async function failing(type: string, action: () => Promise<Reply>): Promise<void> {
      await t.connection.db.execute(sql`insert into audit_fail (type) values (${type})`);
      try {
        const before = await eventCount(t);
        const reply = await action();
        expect(reply.status, reply.text).toBe(500);
        expect(reply.text).not.toMatch(/injected|audit_fail|\n\s+at /);
        expect(await eventCount(t)).toBe(before);
      } finally {
        await t.connection.db.execute(sql`delete from audit_fail`);
      }
    }

    it('role change', async () => {
      const target = await http.signup();
      await failing('roles_changed', () =>
        http.patch(`/users/${target.id}`, { token: admin.accessToken, body: { roles: ['admin', 'user'] } }),
      );
      expect((await rowOf(target.id))!.roles).toEqual(['user']);
      expectError(await http.get('/users', { token: target.accessToken }), 403, 'forbidden');
    });

    it('disabling', async () => {
      const target = await http.signup();
      await failing('user_disabled', () =>
        http.patch(`/users/${target.id}`, { token: admin.accessToken, body: { disabled: true } }),
      );
      expect((await rowOf(target.id))!.disabledAt).toBeNull();
      expectStatus(await http.get('/users/me', { token: target.accessToken }), 200);
      expectStatus(await http.post('/auth/refresh', { body: { refreshToken: target.refreshToken } }), 200);
    });

    it('deletion', async () => {
      const target = await http.signup();
      await failing('user_deleted', () => http.delete(`/users/${target.id}`, { token: admin.accessToken }));
      expect(await rowOf(target.id)).toBeDefined();
      expectStatus(await http.get('/users/me', { token: target.accessToken }), 200);
    });

    it('signout and signing out everywhere', async () => {
      const target = await http.signup();
      await failing('signout', () => http.post('/auth/signout', { token: target.accessToken }));
      await failing('signout_all', () => http.post('/auth/signout/all', { token: target.accessToken }));
      await failing('session_revoked', () =>
        http.delete(`/users/${target.id}/sessions`, { token: admin.accessToken }),
      );
      expectStatus(await http.get('/users/me', { token: target.accessToken }), 200);
      const live = await t.connection.db.select().from(sessions).where(eq(sessions.userId, target.id));
      expect(live.map((s) => s.revokedAt)).toEqual([null]);
    });

    it('password change', async () => {
      const target = await http.signup();
      const other = await http.signin(target.email);
      const hash = (await rowOf(target.id))!.passwordHash;
      await failing('password_changed', () =>
        http.post('/auth/password', {
          token: target.accessToken,
          body: { currentPassword: GOOD_PASSWORD, newPassword: NEW_PASSWORD },
        }),
      );
      expect((await rowOf(target.id))!.passwordHash).toBe(hash);
      expectStatus(await http.get('/users/me', { token: other.accessToken }), 200);
    });

    it('signup and signin', async () => {
      const email = uniqueEmail('rollback');
      await failing('signup', () => http.post('/auth/signup', { body: { email, password: GOOD_PASSWORD } }));
      expect(await t.connection.db.select().from(users).where(eq(users.email, email))).toEqual([]);
      const target = await http.signup();
      await failing('signin_succeeded', () =>
        http.post('/auth/signin', { body: { email: target.email, password: GOOD_PASSWORD } }),
      );
      expect(
        await t.connection.db.select().from(sessions).where(eq(sessions.userId, target.id)),
      ).toHaveLength(1);
    });
  });
});
