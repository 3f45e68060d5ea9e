import { randomUUID } from 'node:crypto';
import { and, eq, isNull, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessions, users } from '../../src/database/schema.js';
import {
  collectPages,
  createAdminApp,
  expectNewestFirst,
  nextLink,
  patchUser,
  ROOT_EMAIL,
  signinRoot,
} from '../support/admin.js';
import { type AuthBody, expectError, GOOD_PASSWORD, Http, type Reply, uniqueEmail } from '../support/http.js';
import type { TestApp } from '../support/test-app.js';
import { b64url } from '../support/tokens.js';

const ADMIN_VIEW_KEYS = [
  'createdAt',
  'disabled',
  'email',
  'emailVerified',
  'id',
  'mfaEnabled',
  'roles',
  'updatedAt',
];

async function userRow(t: TestApp, id: string) {
  const [row] = await t.connection.db.select().from(users).where(eq(users.id, id));
  return row;
}

async function liveSessionCount(t: TestApp, userId: string): Promise<number> {
  const rows = await t.connection.db
    .select({ id: sessions.id })
    .from(sessions)
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt)));
  return rows.length;
}

const expectStatus = (reply: Reply, status: number) => expect(reply.status, reply.text).toBe(status);

/** Uses each token once, so that its session's state is cached: a change must invalidate it. */
async function warm(http: Http, ...auths: { accessToken: string }[]) {
  for (const auth of auths) expectStatus(await http.get('/users/me', { token: auth.accessToken }), 200);
}

async function expectRevoked(http: Http, auth: { accessToken: string; refreshToken: string }) {
  expectError(await http.get('/users/me', { token: auth.accessToken }), 401, 'session_revoked');
  expectError(
    await http.post('/auth/refresh', { body: { refreshToken: auth.refreshToken } }),
    401,
    'invalid_refresh_token',
  );
}

describe('GET /users (listing)', () => {
  let t: TestApp;
  let http: Http;
  let admin: AuthBody;
  const run = `${process.pid}${Date.now()}`;

  beforeAll(async () => {
    t = await createAdminApp();
    http = new Http(t.app);
    admin = await signinRoot(http);
  });
  afterAll(() => t.close());

  const list = (query = '') => http.get(`/users${query}`, { token: admin.accessToken });

  it('returns the admin view of each user, newest first, never a password hash', async () => {
    const a = await http.signup(uniqueEmail('list'));
    const b = await http.signup(uniqueEmail('list'));
    const reply = await list();
    expectStatus(reply, 200);
    expect(Array.isArray(reply.body)).toBe(true);
    for (const user of reply.body) expect(Object.keys(user).sort()).toEqual(ADMIN_VIEW_KEYS);
    expectNewestFirst(reply.body);
    const ids = reply.body.map((u: { id: string }) => u.id);
    expect(ids.indexOf(b.id)).toBeLessThan(ids.indexOf(a.id));
    expect(reply.body.find((u: { id: string }) => u.id === a.id)).toMatchObject({
      email: a.email,
      roles: ['user'],
      disabled: false,
    });
    const hashes = (await t.connection.db.select({ hash: users.passwordHash }).from(users)).map(
      (r) => r.hash,
    );
    for (const hash of hashes) expect(reply.text).not.toContain(hash);
    expect(reply.text).not.toMatch(/password|hash|\$argon2/i);
    expect(reply.headers.link).toBeUndefined();
  });

  it('pages with limit and Link: every user exactly once, newest first, filters kept in the link', async () => {
    const prefix = `page${run}.`;
    const created: AuthBody[] = [];
    for (let i = 0; i < 7; i++) created.push(await http.signup(`${prefix}${i}@example.com`));
    const newestFirst = created.map((u) => u.id).reverse();

    const filtered = await collectPages(http, `/users?limit=3&email=${prefix}`, admin.accessToken);
    expect(filtered.pages.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(filtered.pages.flat().map((u) => u.id)).toEqual(newestFirst);
    for (const link of filtered.links) {
      expect(link).toMatch(/^\/users\?/);
      const params = new URL(link, 'http://x').searchParams;
      expect(params.get('limit')).toBe('3');
      expect(params.get('email')).toBe(prefix);
      expect(params.get('cursor')).toMatch(/^[A-Za-z0-9_-]+$/);
    }

    // Unfiltered: the whole table, each once, in the same order as one big page.
    const whole = await list('?limit=100');
    expectStatus(whole, 200);
    expect(whole.body.length).toBeLessThan(100);
    const paged = await collectPages(http, '/users?limit=3', admin.accessToken);
    const pagedIds = paged.pages.flat().map((u) => u.id);
    expect(new Set(pagedIds).size).toBe(pagedIds.length);
    expect(pagedIds).toEqual(whole.body.map((u: { id: string }) => u.id));
    expect(pagedIds.filter((id) => newestFirst.includes(id))).toEqual(newestFirst);
    for (const page of paged.pages.slice(0, -1)) expect(page).toHaveLength(3);

    // Exactly `limit` rows left: one page and no Link (no empty page to fetch).
    const exact = await list(`?limit=7&email=${prefix}`);
    expect(exact.body).toHaveLength(7);
    expect(nextLink(exact)).toBeUndefined();
    // Default limit is 50.
    expect((await list()).body.length).toBe(Math.min(50, whole.body.length));
  });

  it('pages through users created within one millisecond without skipping or repeating any', async () => {
    // now() has microsecond precision; three rows written within one millisecond, as
    // concurrent signups can be. created_at keeps milliseconds (what a cursor carries),
    // and ties are ordered by id.
    const domain = `usec${run}.io`;
    for (const micro of ['123100', '123500', '123900']) {
      await t.connection.db.execute(
        sql`insert into users (id, email, password_hash, created_at, updated_at)
            values (${randomUUID()}, ${`u${micro}@${domain}`}, 'not-a-hash', ${`2001-02-03 04:05:06.${micro}+00`}, now())`,
      );
    }
    const expected = await t.connection.db.execute(
      sql`select email from users where email like ${'%@' + domain} order by created_at desc, id desc`,
    );
    const { pages } = await collectPages(http, `/users?limit=1&email=u1`, admin.accessToken);
    const seen = pages
      .flat()
      .map((u) => u.email)
      .filter((e: string) => e.endsWith(domain));
    expect(seen).toHaveLength(3);
    expect(seen).toEqual((expected as { rows: { email: string }[] }).rows.map((row) => row.email));
  });

  it('rejects bad limits, cursors and unknown parameters with 400, never 500', async () => {
    const valid = nextLink(await list('?limit=1'));
    expect(valid).toBeDefined();
    const cursor = new URL(valid!, 'http://x').searchParams.get('cursor')!;
    const tampered = cursor.slice(0, -4) + (cursor.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    for (const query of [
      '?limit=0',
      '?limit=101',
      '?limit=abc',
      '?limit=-1',
      '?limit=2.5',
      '?limit=',
      '?limit=1&limit=2',
      '?cursor=garbage',
      '?cursor=',
      '?cursor=%21%21%21',
      `?cursor=${tampered}`,
      `?cursor=${cursor}x`,
      `?cursor=${'A'.repeat(500)}`,
      `?cursor=${b64url('2020-13-45T00:00:00.000Z|' + randomUUID())}`,
      `?cursor=${b64url('yesterday|' + randomUUID())}`,
      '?foo=1',
      '?email=a&email=b',
      `?email=${'a'.repeat(255)}`,
    ]) {
      const reply = await list(query);
      expectError(reply, 400, 'validation_failed');
    }
  });

  it('rejects forged cursors of the right shape with 400, never 500', async () => {
    for (const forged of [
      `2020-01-01T00:00:00.000Z|${'-'.repeat(36)}`,
      `2020-01-01T00:00:00.000Z|${'f'.repeat(36)}`,
      `0000-01-01T00:00:00.000Z|${randomUUID()}`,
    ]) {
      const reply = await list(`?cursor=${b64url(forged)}`);
      expect(reply.status, `${forged}: ${reply.text}`).toBe(400);
      expectError(reply, 400, 'validation_failed');
    }
  });

  it('rejects a NUL character in ?email= with 400, never 500', async () => {
    expectError(await list('?email=%00'), 400, 'validation_failed');
  });

  it('filters by a literal, case-insensitive email prefix: % and _ match only themselves', async () => {
    const tag = `x${run}`;
    const aUnderscore = await http.signup(`a_b.${tag}@x.io`);
    const aX = await http.signup(`axb.${tag}@x.io`);
    const upper = await http.signup(`AXC.${tag}@X.IO`);
    const ids = async (prefix: string) => {
      const reply = await list(`?${new URLSearchParams({ email: prefix, limit: '100' }).toString()}`);
      expectStatus(reply, 200);
      for (const user of reply.body)
        expect(user.email.toLowerCase().startsWith(prefix.toLowerCase())).toBe(true);
      return reply.body.map((u: { id: string }) => u.id);
    };
    expect(await ids('a_')).toEqual([aUnderscore.id]);
    expect(await ids('A_B.')).toEqual([aUnderscore.id]);
    expect(await ids('ax')).toEqual([upper.id, aX.id]);
    expect(await ids('axc.')).toEqual([upper.id]);
    expect(await ids(`AXB.${tag}@X.io`)).toEqual([aX.id]);
    expect(await ids('%')).toEqual([]);
    expect(await ids('a%')).toEqual([]);
    expect(await ids('_')).toEqual([]);
    expect(await ids('\\')).toEqual([]);
    expect(await ids('a\\_')).toEqual([]);
    expect(await ids(ROOT_EMAIL.toUpperCase())).toHaveLength(1);
  });

  it('GET /users/:id: 200 with the admin view, 404 unknown, 400 malformed', async () => {
    const user = await http.signup();
    const reply = await http.get(`/users/${user.id}`, { token: admin.accessToken });
    expectStatus(reply, 200);
    expect(Object.keys(reply.body).sort()).toEqual(ADMIN_VIEW_KEYS);
    expect(reply.body).toMatchObject({ id: user.id, email: user.email, roles: ['user'], disabled: false });
    expect(reply.text).not.toMatch(/password|hash/i);
    expectError(await http.get(`/users/${randomUUID()}`, { token: admin.accessToken }), 404, 'not_found');
    for (const bad of ['not-a-uuid', '1', `${user.id}x`, "1' or '1'='1"]) {
      expectError(
        await http.get(`/users/${encodeURIComponent(bad)}`, { token: admin.accessToken }),
        400,
        'validation_failed',
      );
    }
  });
});

describe('PATCH and DELETE /users/:id, DELETE /users/:id/sessions', () => {
  let t: TestApp;
  let http: Http;
  let admin: AuthBody;

  beforeAll(async () => {
    t = await createAdminApp();
    http = new Http(t.app);
    admin = await signinRoot(http);
  });
  afterAll(() => t.close());

  it('a role change applies to the existing access token on its next request, both ways', async () => {
    const user = await http.signup();
    const token = user.accessToken; // issued before the promotion, with roles ["user"] in its claims
    expectError(await http.get('/users', { token }), 403, 'forbidden');

    const promoted = await patchUser(http, admin.accessToken, user.id, { roles: ['user', 'admin'] });
    expect(promoted).toMatchObject({ id: user.id, roles: ['admin', 'user'], disabled: false });
    expect(Object.keys(promoted).sort()).toEqual(ADMIN_VIEW_KEYS);
    expectStatus(await http.get('/users', { token }), 200);
    expectStatus(await http.get('/audit-events', { token }), 200);
    expectStatus(await http.get(`/users/${admin.id}`, { token }), 200);
    expect((await http.get('/users/me', { token })).body.roles).toEqual(['admin', 'user']);
    expect((await userRow(t, user.id))!.roles).toEqual(['admin', 'user']);

    await patchUser(http, admin.accessToken, user.id, { roles: ['user'] });
    expectError(await http.get('/users', { token }), 403, 'forbidden');
    expectError(await http.get('/audit-events', { token }), 403, 'forbidden');
    expectError(
      await http.patch(`/users/${admin.id}`, { token, body: { roles: ['user'] } }),
      403,
      'forbidden',
    );
    // A role change is not a revocation: the session goes on.
    expectStatus(await http.get('/users/me', { token }), 200);
    expectStatus(await http.post('/auth/refresh', { body: { refreshToken: user.refreshToken } }), 200);
  });

  it('rejects undefined roles, unknown fields and bad types with 400 and changes nothing', async () => {
    const user = await http.signup();
    const before = await userRow(t, user.id);
    for (const body of [
      { roles: ['superuser'] },
      { roles: ['ADMIN'] },
      { roles: ['user', 'root'] },
      { roles: 'admin' },
      { roles: [1] },
      { roles: ['admin'], isAdmin: true },
      { isAdmin: true },
      { disabled: 'true' },
      { disabled: 1 },
      { email: 'other@example.com' },
      { passwordHash: 'x' },
      {},
      [],
      null,
    ]) {
      const reply = await http.patch(`/users/${user.id}`, { token: admin.accessToken, body });
      expectError(reply, 400, 'validation_failed');
    }
    expectError(
      await http.patch('/users/not-a-uuid', { token: admin.accessToken, body: { disabled: true } }),
      400,
      'validation_failed',
    );
    expectError(
      await http.patch(`/users/${randomUUID()}`, { token: admin.accessToken, body: { roles: ['user'] } }),
      404,
      'not_found',
    );
    expect(await userRow(t, user.id)).toEqual(before);
    expectStatus(await http.get('/users/me', { token: user.accessToken }), 200);
  });

  it('disabling ends every session at once; signin says account_disabled only with the right password', async () => {
    const user = await http.signup();
    const second = await http.signin(user.email);
    await warm(http, user, second);
    const disabled = await patchUser(http, admin.accessToken, user.id, { disabled: true });
    expect(disabled).toMatchObject({ id: user.id, disabled: true, roles: ['user'] });

    await expectRevoked(http, user);
    await expectRevoked(http, second);
    expect(await liveSessionCount(t, user.id)).toBe(0);
    expectError(
      await http.post('/auth/signin', { body: { email: user.email, password: GOOD_PASSWORD } }),
      403,
      'account_disabled',
    );
    expectError(
      await http.post('/auth/signin', {
        body: { email: user.email, password: 'wrong horse battery staple' },
      }),
      401,
      'invalid_credentials',
    );
    expect((await http.get(`/users/${user.id}`, { token: admin.accessToken })).body.disabled).toBe(true);
    expect(await liveSessionCount(t, user.id)).toBe(0);

    const enabled = await patchUser(http, admin.accessToken, user.id, { disabled: false });
    expect(enabled.disabled).toBe(false);
    const again = await http.signin(user.email);
    expectStatus(await http.get('/users/me', { token: again.accessToken }), 200);
    // Re-enabling does not bring the old tokens back.
    await expectRevoked(http, user);
    await expectRevoked(http, second);
  });

  it('deleting a user: 204, its tokens dead at once, then 404 and invalid_credentials', async () => {
    const user = await http.signup();
    const second = await http.signin(user.email);
    await warm(http, user, second);
    const reply = await http.delete(`/users/${user.id}`, { token: admin.accessToken });
    expectStatus(reply, 204);
    expect(reply.text).toBe('');
    await expectRevoked(http, user);
    await expectRevoked(http, second);
    expectError(await http.get(`/users/${user.id}`, { token: admin.accessToken }), 404, 'not_found');
    expectError(
      await http.post('/auth/signin', { body: { email: user.email, password: GOOD_PASSWORD } }),
      401,
      'invalid_credentials',
    );
    expectError(await http.delete(`/users/${user.id}`, { token: admin.accessToken }), 404, 'not_found');
    expect(await userRow(t, user.id)).toBeUndefined();
    expect(await t.connection.db.select().from(sessions).where(eq(sessions.userId, user.id))).toEqual([]);
    // The address is free again, for a new account that inherits nothing.
    const reborn = await http.signup(user.email);
    expect(reborn.id).not.toBe(user.id);
    expect(reborn.roles).toEqual(['user']);
    expectError(
      await http.delete(`/users/not-a-uuid`, { token: admin.accessToken }),
      400,
      'validation_failed',
    );
  });

  it('DELETE /users/:id/sessions signs the user out everywhere, and only that user', async () => {
    const user = await http.signup();
    const second = await http.signin(user.email);
    const bystander = await http.signup();
    await warm(http, user, second, bystander);
    const reply = await http.delete(`/users/${user.id}/sessions`, { token: admin.accessToken });
    expectStatus(reply, 204);
    await expectRevoked(http, user);
    await expectRevoked(http, second);
    expect(await liveSessionCount(t, user.id)).toBe(0);
    // Not disabled: the user signs in again; others are untouched.
    expect((await userRow(t, user.id))!.disabledAt).toBeNull();
    const again = await http.signin(user.email);
    expectStatus(await http.get('/users/me', { token: again.accessToken }), 200);
    expectStatus(await http.get('/users/me', { token: bystander.accessToken }), 200);
    expectStatus(await http.get('/users/me', { token: admin.accessToken }), 200);
    expectError(
      await http.delete(`/users/${randomUUID()}/sessions`, { token: admin.accessToken }),
      404,
      'not_found',
    );
    expectError(
      await http.delete('/users/not-a-uuid/sessions', { token: admin.accessToken }),
      400,
      'validation_failed',
    );
  });

  it('a plain user gets 403 on every admin route, whatever the target', async () => {
    const user = await http.signup();
    const other = await http.signup();
    const token = user.accessToken;
    for (const target of [user.id, other.id, admin.id]) {
      expectError(await http.get(`/users/${target}`, { token }), 403, 'forbidden');
      expectError(
        await http.patch(`/users/${target}`, { token, body: { roles: ['admin'] } }),
        403,
        'forbidden',
      );
      expectError(
        await http.patch(`/users/${target}`, { token, body: { disabled: true } }),
        403,
        'forbidden',
      );
      expectError(await http.delete(`/users/${target}`, { token }), 403, 'forbidden');
      expectError(await http.delete(`/users/${target}/sessions`, { token }), 403, 'forbidden');
    }
    expectError(await http.get('/users', { token }), 403, 'forbidden');
    expectError(await http.get('/audit-events', { token }), 403, 'forbidden');
    expect((await userRow(t, user.id))!.roles).toEqual(['user']);
    for (const auth of [other, admin])
      expectStatus(await http.get('/users/me', { token: auth.accessToken }), 200);
  });
});

describe('object-level access: a user reaches only its own data', () => {
  let t: TestApp;
  let http: Http;
  let a: AuthBody;
  let b: AuthBody;
  let b2: AuthBody;

  beforeAll(async () => {
    t = await createAdminApp();
    http = new Http(t.app);
    a = await http.signup();
    b = await http.signup();
    b2 = await http.signin(b.email);
  });
  afterAll(() => t.close());

  const sessionIdsOf = async (userId: string) =>
    (await t.connection.db.select({ id: sessions.id }).from(sessions).where(eq(sessions.userId, userId)))
      .map((r) => r.id)
      .sort();

  it('GET /users/me and GET /auth/sessions show only the caller', async () => {
    const me = await http.get('/users/me', { token: a.accessToken });
    expect(me.body).toMatchObject({ id: a.id, email: a.email });
    const mine = await http.get('/auth/sessions', { token: a.accessToken });
    expectStatus(mine, 200);
    expect(mine.body.map((s: { id: string }) => s.id).sort()).toEqual(await sessionIdsOf(a.id));
    const theirs = new Set(await sessionIdsOf(b.id));
    expect(theirs.size).toBe(2);
    for (const session of mine.body) expect(theirs.has(session.id)).toBe(false);
  });

  it("DELETE /auth/sessions/<another user's session> is 404 and that session keeps working", async () => {
    for (const id of await sessionIdsOf(b.id)) {
      expectError(await http.delete(`/auth/sessions/${id}`, { token: a.accessToken }), 404, 'not_found');
    }
    expect(await liveSessionCount(t, b.id)).toBe(2);
    for (const auth of [b, b2]) expectStatus(await http.get('/users/me', { token: auth.accessToken }), 200);
    // Same answer as for an id that does not exist at all: nothing to learn.
    const unknown = await http.delete(`/auth/sessions/${randomUUID()}`, { token: a.accessToken });
    expectError(unknown, 404, 'not_found');
  });

  it("no admin route reaches B's account for A, and A's own account-wide actions leave B alone", async () => {
    for (const request of [
      () => http.get(`/users/${b.id}`, { token: a.accessToken }),
      () => http.patch(`/users/${b.id}`, { token: a.accessToken, body: { disabled: true } }),
      () => http.delete(`/users/${b.id}/sessions`, { token: a.accessToken }),
      () => http.delete(`/users/${b.id}`, { token: a.accessToken }),
      () => http.get(`/audit-events?userId=${b.id}`, { token: a.accessToken }),
    ]) {
      expectError(await request(), 403, 'forbidden');
    }
    const changed = await http.post('/auth/password', {
      token: a.accessToken,
      body: { currentPassword: GOOD_PASSWORD, newPassword: 'another correct horse staple' },
    });
    expectStatus(changed, 204);
    expectStatus(await http.post('/auth/signout/all', { token: a.accessToken }), 204);
    expectError(await http.get('/users/me', { token: a.accessToken }), 401, 'session_revoked');

    expect(await liveSessionCount(t, b.id)).toBe(2);
    for (const auth of [b, b2]) expectStatus(await http.get('/users/me', { token: auth.accessToken }), 200);
    expectStatus(await http.post('/auth/refresh', { body: { refreshToken: b2.refreshToken } }), 200);
    expect(await userRow(t, b.id)).toMatchObject({ roles: ['user'], disabledAt: null });
    await http.signin(b.email, GOOD_PASSWORD); // B's password is unchanged
  });
});

describe('the last active admin', () => {
  let t: TestApp;
  let http: Http;
  let root: AuthBody;

  beforeAll(async () => {
    t = await createAdminApp();
    http = new Http(t.app);
    root = await signinRoot(http);
  });
  afterAll(() => t.close());

  const activeAdmins = async () =>
    (
      await t.connection.db
        .select({ id: users.id })
        .from(users)
        .where(and(sql`'admin' = any(${users.roles})`, isNull(users.disabledAt)))
    ).map((r) => r.id);

  it('cannot be demoted, disabled or deleted, even by itself: 409 last_admin and nothing changes', async () => {
    expect(await activeAdmins()).toEqual([root.id]);
    const before = await userRow(t, root.id);
    for (const attempt of [
      () => http.patch(`/users/${root.id}`, { token: root.accessToken, body: { roles: ['user'] } }),
      () => http.patch(`/users/${root.id}`, { token: root.accessToken, body: { roles: [] } }),
      () => http.patch(`/users/${root.id}`, { token: root.accessToken, body: { disabled: true } }),
      () =>
        http.patch(`/users/${root.id}`, {
          token: root.accessToken,
          body: { roles: ['admin'], disabled: true },
        }),
      () => http.delete(`/users/${root.id}`, { token: root.accessToken }),
    ]) {
      expectError(await attempt(), 409, 'last_admin');
    }
    expect(await userRow(t, root.id)).toEqual(before);
    expectStatus(await http.get('/users', { token: root.accessToken }), 200);
    // Keeping admin while changing other roles is fine.
    await patchUser(http, root.accessToken, root.id, { roles: ['admin', 'user'] });
  });

  it('a disabled admin does not count; with two active admins one can demote the other', async () => {
    const second = await http.signup();
    await patchUser(http, root.accessToken, second.id, { roles: ['admin', 'user'] });
    await patchUser(http, root.accessToken, second.id, { disabled: true });
    expect(await activeAdmins()).toEqual([root.id]);
    expectError(
      await http.patch(`/users/${root.id}`, { token: root.accessToken, body: { roles: ['user'] } }),
      409,
      'last_admin',
    );

    await patchUser(http, root.accessToken, second.id, { disabled: false });
    const secondAgain = await http.signin(second.email);
    expect((await activeAdmins()).sort()).toEqual([root.id, second.id].sort());
    // The second admin demotes root; root's existing token loses admin at once.
    await patchUser(http, secondAgain.accessToken, root.id, { roles: ['user'] });
    expectError(await http.get('/users', { token: root.accessToken }), 403, 'forbidden');
    expect(await activeAdmins()).toEqual([second.id]);
    // Now the second admin is the last one.
    expectError(
      await http.delete(`/users/${second.id}`, { token: secondAgain.accessToken }),
      409,
      'last_admin',
    );
    // Give root back its role for the next test.
    await patchUser(http, secondAgain.accessToken, root.id, { roles: ['admin', 'user'] });
    expectStatus(await http.get('/users', { token: root.accessToken }), 200);
  });

  it('two admins acting on each other at the same moment never leave zero active admins (12 rounds)', async () => {
    // Make A and B the only active admins.
    let a: AuthBody = await http.signup(uniqueEmail('race-a'));
    let b: AuthBody = await http.signup(uniqueEmail('race-b'));
    await patchUser(http, root.accessToken, a.id, { roles: ['admin', 'user'] });
    await patchUser(http, root.accessToken, b.id, { roles: ['admin', 'user'] });
    for (const id of await activeAdmins()) {
      if (id !== a.id && id !== b.id) await patchUser(http, a.accessToken, id, { roles: ['user'] });
    }
    expect((await activeAdmins()).sort()).toEqual([a.id, b.id].sort());

    const refusals = new Set<string>();
    for (let round = 0; round < 12; round++) {
      const kind = (['demote', 'disable', 'delete'] as const)[round % 3];
      const act = (actor: AuthBody, target: AuthBody) =>
        kind === 'delete'
          ? http.delete(`/users/${target.id}`, { token: actor.accessToken })
          : http.patch(`/users/${target.id}`, {
              token: actor.accessToken,
              body: kind === 'demote' ? { roles: ['user'] } : { disabled: true },
            });
      // Both sessions' states are in memory, so that the guards need no database round
      // trip: the second request can pass them before the first change commits.
      for (const auth of [a, b]) expectStatus(await http.get('/users/me', { token: auth.accessToken }), 200);
      const [byA, byB] = await Promise.all([act(a, b), act(b, a)]);
      const ok = (reply: Reply) => reply.status === 200 || reply.status === 204;
      expect(
        [ok(byA), ok(byB)].filter(Boolean),
        `round ${round} (${kind}): ${byA.text} / ${byB.text}`,
      ).toHaveLength(1);
      const [winner, loser, refused] = ok(byA) ? [a, b, byB] : [b, a, byA];
      // The refused request met either the last-admin rule or the winner's change
      // (no longer admin, or no longer signed in), depending on when it was checked.
      expect(['409 last_admin', '403 forbidden', '401 session_revoked']).toContain(
        `${refused.status} ${refused.body?.code}`,
      );
      refusals.add(`${refused.status} ${refused.body?.code}`);
      expect(await activeAdmins(), `round ${round} (${kind})`).toEqual([winner.id]);

      // Restore two active admins for the next round.
      let restored: AuthBody;
      if (kind === 'demote') {
        await patchUser(http, winner.accessToken, loser.id, { roles: ['admin', 'user'] });
        restored = loser;
      } else if (kind === 'disable') {
        await patchUser(http, winner.accessToken, loser.id, { disabled: false });
        restored = await http.signin(loser.email);
      } else {
        expect(await userRow(t, loser.id)).toBeUndefined();
        const fresh = await http.signup(uniqueEmail('race-new'));
        await patchUser(http, winner.accessToken, fresh.id, { roles: ['admin', 'user'] });
        restored = fresh;
      }
      [a, b] = [winner, restored];
      expect((await activeAdmins()).sort()).toEqual([a.id, b.id].sort());
    }
    // At least once, both requests were past the guards and the last-admin rule inside
    // the transaction refused the second one (otherwise this test did not race at all).
    expect([...refusals]).toContain('409 last_admin');
  });
});
