import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPostgres } from '../../src/database/database.connection.js';
import { AdminBootstrapService } from '../../src/users/admin-bootstrap.service.js';
import type { DatabaseConnection } from '../../src/database/database.types.js';
import { patchUser, ROOT_EMAIL, ROOT_PASSWORD, signinRoot } from '../support/admin.js';
import { type AuthBody, expectError, GOOD_PASSWORD, Http, uniqueEmail } from '../support/http.js';
import { createTestApp, freshDatabase, type TestApp } from '../support/test-app.js';
import { NO_THROTTLE } from '../support/tokens.js';

/**
 * ADMIN_EMAIL + ADMIN_PASSWORD are read at every start. They may only create
 * the first admin: never promote an account they did not create (the address
 * may have been signed up by anyone after the bootstrap account was deleted),
 * never re-enable an account an admin disabled, never add an admin next to an
 * active one. Each test restarts the service on one database.
 */
describe('ADMIN_EMAIL at start: creates the first admin, and nothing else', () => {
  const BOOTSTRAP = { ADMIN_EMAIL: ROOT_EMAIL, ADMIN_PASSWORD: ROOT_PASSWORD };
  let database: DatabaseConnection & { url: string };
  let running: TestApp | undefined;

  beforeEach(async () => {
    database = await freshDatabase();
  });
  afterEach(async () => {
    await running?.close();
    running = undefined;
    await database.close();
  });

  /** Stops the running instance (if any) and starts another on the same database. */
  async function restart(env: Record<string, string> = {}): Promise<{ t: TestApp; http: Http }> {
    await running?.close();
    running = undefined;
    const t = await createTestApp(
      { ...NO_THROTTLE, ...env },
      { connection: await openPostgres(database.url, 3) },
    );
    running = t;
    return { t, http: new Http(t.app) };
  }

  async function auditOf(http: Http, token: string, userId: string): Promise<Record<string, any>[]> {
    const reply = await http.get(`/audit-events?userId=${userId}&limit=100`, { token });
    expect(reply.status, reply.text).toBe(200);
    return reply.body;
  }

  const warnings = (t: TestApp) =>
    t.logs.filter((line) => line.context === 'FirstAdmin' && line.level === 40).map((line) => line.msg);

  /** A second admin, made by the first one; returns its signin. */
  async function secondAdmin(http: Http, root: AuthBody): Promise<AuthBody> {
    const other = await http.signup(uniqueEmail('second-admin'));
    await patchUser(http, root.accessToken, other.id, { roles: ['admin', 'user'] });
    return http.signin(other.email, GOOD_PASSWORD);
  }

  it('creates the first admin on an empty database, audited as a signup by no one, and nothing more on restart', async () => {
    let { http } = await restart(BOOTSTRAP);
    const root = await signinRoot(http);
    expect(root.roles).toEqual(['admin', 'user']);
    const events = await auditOf(http, root.accessToken, root.id);
    expect(events.filter((e) => e.type !== 'signin_succeeded')).toEqual([
      expect.objectContaining({
        type: 'signup',
        userId: root.id,
        actorId: null,
        detail: { by: 'ADMIN_EMAIL at start', roles: ['admin', 'user'] },
      }),
    ]);

    const restarted = await restart({ ...BOOTSTRAP, ADMIN_PASSWORD: 'another long passphrase here' });
    http = restarted.http;
    const t = restarted.t;
    const again = await signinRoot(http);
    const after = await auditOf(http, again.accessToken, root.id);
    expect(after.filter((e) => e.type !== 'signin_succeeded')).toHaveLength(1);
    expect(warnings(t)).toEqual([]);
    expect(t.rawLogs()).not.toContain('another long passphrase here');
  });

  it('after a second admin deleted the bootstrap account, a signup with that address (other casing) is not made admin by a restart', async () => {
    let { http } = await restart(BOOTSTRAP);
    const root = await signinRoot(http);
    const other = await secondAdmin(http, root);
    expect((await http.delete(`/users/${root.id}`, { token: other.accessToken })).status).toBe(204);

    // Anyone can now sign up with the address.
    const squatter = await http.signup(ROOT_EMAIL.toUpperCase(), 'squatter correct horse battery');
    expect(squatter.roles).toEqual(['user']);

    const restarted = await restart(BOOTSTRAP);
    http = restarted.http;
    const t = restarted.t;
    const signedIn = await http.signin(ROOT_EMAIL, 'squatter correct horse battery');
    expect(signedIn.roles).toEqual(['user']);
    expectError(await http.get('/users', { token: signedIn.accessToken }), 403, 'forbidden');
    // ADMIN_PASSWORD opens nothing: the account keeps the squatter's password.
    expectError(
      await http.post('/auth/signin', { body: { email: ROOT_EMAIL, password: ROOT_PASSWORD } }),
      401,
      'invalid_credentials',
    );
    const events = await auditOf(http, other.accessToken, squatter.id);
    expect(events.map((e) => e.type)).not.toContain('roles_changed');
    expect(warnings(t)).toEqual([
      expect.stringMatching(/ADMIN_EMAIL names an existing account that is not an admin/),
    ]);
  });

  it('a disabled bootstrap account stays disabled after a restart, with no roles_changed or user_enabled row', async () => {
    let { http } = await restart(BOOTSTRAP);
    const root = await signinRoot(http);
    const other = await secondAdmin(http, root);
    const disabled = await patchUser(http, other.accessToken, root.id, { disabled: true });
    expect(disabled.disabled).toBe(true);
    const before = (await auditOf(http, other.accessToken, root.id)).map((e) => e.id);

    const restarted = await restart(BOOTSTRAP);
    http = restarted.http;
    const t = restarted.t;
    expectError(
      await http.post('/auth/signin', { body: { email: ROOT_EMAIL, password: ROOT_PASSWORD } }),
      403,
      'account_disabled',
    );
    const view = await http.get(`/users/${root.id}`, { token: other.accessToken });
    expect(view.body).toMatchObject({ disabled: true, roles: ['admin', 'user'] });
    const added = (await auditOf(http, other.accessToken, root.id)).filter((e) => !before.includes(e.id));
    // Only the refused signin above: nothing from the start.
    expect(added.map((e) => e.type)).toEqual(['signin_failed']);
    expect(warnings(t)).toEqual([
      expect.stringMatching(/ADMIN_EMAIL names an existing account that is disabled/),
    ]);
  });

  it('never promotes an account that existed before ADMIN_EMAIL was set, even with no admin at all', async () => {
    const { http: first } = await restart();
    const early = await first.signup('Root@Example.COM', 'early bird correct horse');

    const { t, http } = await restart(BOOTSTRAP);
    const signedIn = await http.signin(ROOT_EMAIL, 'early bird correct horse');
    expect(signedIn.id).toBe(early.id);
    expect(signedIn.roles).toEqual(['user']);
    expect(warnings(t)).toHaveLength(1);
  });

  it('with an active admin present, another ADMIN_EMAIL creates nothing', async () => {
    let { http } = await restart(BOOTSTRAP);
    const root = await signinRoot(http);
    const count = async () => (await http.get('/users?limit=100', { token: root.accessToken })).body.length;
    const users = await count();

    const newcomer = uniqueEmail('newcomer');
    const restarted = await restart({ ADMIN_EMAIL: newcomer, ADMIN_PASSWORD: ROOT_PASSWORD });
    http = restarted.http;
    const t = restarted.t;
    expectError(
      await http.post('/auth/signin', { body: { email: newcomer, password: ROOT_PASSWORD } }),
      401,
      'invalid_credentials',
    );
    expect(await count()).toBe(users);
    expect(
      t.logs.some((line) => /an active admin exists, so no account was created/.test(String(line.msg))),
    ).toBe(true);
  });

  it('two instances starting at once on an empty database create one admin, and both start', async () => {
    const [a, b] = await Promise.all(
      [0, 1].map(async () =>
        createTestApp({ ...NO_THROTTLE, ...BOOTSTRAP }, { connection: await openPostgres(database.url, 3) }),
      ),
    );
    try {
      const http = new Http(a!.app);
      const root = await signinRoot(http);
      const listed = await http.get('/users?limit=100', { token: root.accessToken });
      expect(listed.body.map((u: { email: string }) => u.email)).toEqual([ROOT_EMAIL]);
      const signups = (await auditOf(http, root.accessToken, root.id)).filter((e) => e.type === 'signup');
      expect(signups).toHaveLength(1);
    } finally {
      await a!.close();
      await b!.close();
    }
  });
});

/**
 * `admin create` is the operator's explicit act, so it may change an existing
 * account: its audit rows say exactly what changed.
 */
describe('admin create (the command line): audit rows of exactly what it changed', () => {
  let t: TestApp;
  let http: Http;
  let root: AuthBody;

  beforeEach(async () => {
    t = await createTestApp({ ...NO_THROTTLE, ADMIN_EMAIL: ROOT_EMAIL, ADMIN_PASSWORD: ROOT_PASSWORD });
    http = new Http(t.app);
    root = await signinRoot(http);
  });
  afterEach(() => t.close());

  const typesSince = async (userId: string, seen: string[]) =>
    (await http.get(`/audit-events?userId=${userId}&limit=100`, { token: root.accessToken })).body
      .filter((e: { id: string }) => !seen.includes(e.id))
      .map((e: { type: string; actorId: string | null; detail: object }) => ({
        type: e.type,
        actorId: e.actorId,
        detail: e.detail,
      }));
  const ids = async (userId: string) =>
    (await http.get(`/audit-events?userId=${userId}&limit=100`, { token: root.accessToken })).body.map(
      (e: { id: string }) => e.id,
    );

  it('re-enabling a disabled admin writes user_enabled, and no roles_changed', async () => {
    const other = await http.signup(uniqueEmail('disabled-admin'));
    await patchUser(http, root.accessToken, other.id, { roles: ['admin', 'user'] });
    await patchUser(http, root.accessToken, other.id, { disabled: true });
    const seen = await ids(other.id);

    const outcome = await t.app.get(AdminBootstrapService).ensureAdmin(other.email.toUpperCase(), '');
    expect(outcome).toBe('enabled');
    expect(await typesSince(other.id, seen)).toEqual([
      { type: 'user_enabled', actorId: null, detail: { by: 'admin create (command line)' } },
    ]);
    expect((await http.signin(other.email, GOOD_PASSWORD)).roles).toEqual(['admin', 'user']);
  });

  it('promoting a disabled user writes roles_changed and user_enabled', async () => {
    const other = await http.signup(uniqueEmail('disabled-user'));
    await patchUser(http, root.accessToken, other.id, { disabled: true });
    const seen = await ids(other.id);

    expect(await t.app.get(AdminBootstrapService).ensureAdmin(other.email, '')).toBe('promoted-and-enabled');
    expect(await typesSince(other.id, seen)).toEqual(
      expect.arrayContaining([
        {
          type: 'roles_changed',
          actorId: null,
          detail: { from: ['user'], to: ['admin', 'user'], by: 'admin create (command line)' },
        },
        { type: 'user_enabled', actorId: null, detail: { by: 'admin create (command line)' } },
      ]),
    );
    expect(await typesSince(other.id, seen)).toHaveLength(2);
  });
});
