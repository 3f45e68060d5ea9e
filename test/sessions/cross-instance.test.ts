import { afterAll, beforeAll, expect, it } from 'vitest';
import { LISTEN_APPLICATION_NAME, openDatabase } from '../../src/database/database.connection.js';
import { AuthStateService } from '../../src/sessions/auth-state.service.js';
import { expectError, Http } from '../support/http.js';
import { describeWithPostgres } from '../support/server-suites.js';
import { createPostgresDatabase } from '../support/services.js';
import { createTestApp, type TestApp } from '../support/test-app.js';

/**
 * Polls `check` until it holds (bounded): waits for an event, asserts nothing by itself. The
 * default bound is generous (a busy machine delays a reconnect); promises are asserted with their own.
 */
async function until(check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await check()) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

describeWithPostgres('two instances on one PostgreSQL database', () => {
  let drop: () => Promise<void>;
  let a: TestApp;
  let b: TestApp;
  let httpA: Http;
  let httpB: Http;
  const delays: Record<string, number> = {};

  beforeAll(async () => {
    const database = await createPostgresDatabase();
    drop = database.drop;
    const connect = () => openDatabase({ url: database.url, poolSize: 4, dataDir: '' });
    a = await createTestApp({}, { connection: await connect() });
    b = await createTestApp({}, { connection: await connect() });
    httpA = new Http(a.app);
    httpB = new Http(b.app);
    // Both listen for changes before the test starts (then they cache).
    await until(
      () => a.app.get(AuthStateService).cachingEnabled && b.app.get(AuthStateService).cachingEnabled,
    );
  });
  afterAll(async () => {
    console.log('revocation seen by the other instance after (ms):', delays);
    await a?.close();
    await b?.close();
    await drop?.();
  });

  /** Time until instance B refuses the token, after the change made on A. */
  async function seenByB(token: string, status: number): Promise<number> {
    return until(async () => (await httpB.get('/users/me', { token })).status === status, 1_000);
  }

  it('share signing keys: a token from one is accepted by the other, and both publish the same JWKS', async () => {
    const user = await httpA.signup();
    expect((await httpB.get('/users/me', { token: user.accessToken })).status).toBe(200);
    expect((await httpA.get('/.well-known/jwks.json')).body).toEqual(
      (await httpB.get('/.well-known/jwks.json')).body,
    );
  });

  it('signout on one is refused by the other within 1 s, though the other had cached the session', async () => {
    const user = await httpA.signup();
    expect((await httpB.get('/users/me', { token: user.accessToken })).status).toBe(200); // cached on B
    expect((await httpA.post('/auth/signout', { token: user.accessToken })).status).toBe(204);
    delays.signout = await seenByB(user.accessToken, 401);
    expectError(await httpB.get('/users/me', { token: user.accessToken }), 401, 'session_revoked');
  });

  it('a role change and disabling on one apply on the other within 1 s', async () => {
    const admin = await httpA.signup();
    await a.connection.db.execute(`update users set roles = '{admin,user}' where id = '${admin.id}'`);
    const user = await httpA.signup();
    // Promote on A; B, which had cached the user's state, lets the old token in.
    expectError(await httpB.get('/users', { token: user.accessToken }), 403, 'forbidden');
    const promoted = await httpA.patch(`/users/${user.id}`, {
      token: admin.accessToken,
      body: { roles: ['admin'] },
    });
    expect(promoted.status, promoted.text).toBe(200);
    delays.roleChange = await until(
      async () => (await httpB.get('/users', { token: user.accessToken })).status === 200,
      1_000,
    );
    // Disable on A; B refuses the next request.
    expect(
      (await httpA.patch(`/users/${user.id}`, { token: admin.accessToken, body: { disabled: true } })).status,
    ).toBe(200);
    delays.disable = await seenByB(user.accessToken, 401);
  });

  it('a password change and a deletion on one apply on the other within 1 s', async () => {
    const admin = await httpA.signup();
    await a.connection.db.execute(`update users set roles = '{admin,user}' where id = '${admin.id}'`);

    // Password change on A: the user's other session, cached on B, is refused by B.
    const user = await httpA.signup();
    const other = await httpA.signin(user.email);
    expect((await httpB.get('/users/me', { token: other.accessToken })).status).toBe(200);
    const changed = await httpA.post('/auth/password', {
      token: user.accessToken,
      body: { currentPassword: user.password, newPassword: 'a brand new passphrase' },
    });
    expect(changed.status, changed.text).toBe(204);
    delays.passwordChange = await seenByB(other.accessToken, 401);
    expect((await httpB.get('/users/me', { token: user.accessToken })).status).toBe(200); // the current one stays

    // Deletion on A: B refuses the deleted user's token.
    const doomed = await httpA.signup();
    expect((await httpB.get('/users/me', { token: doomed.accessToken })).status).toBe(200);
    expect((await httpA.delete(`/users/${doomed.id}`, { token: admin.accessToken })).status).toBe(204);
    delays.deletion = await seenByB(doomed.accessToken, 401);
  });

  it('fails safe when the change channel is lost: no revoked token accepted, caching back after reconnect', async () => {
    const user = await httpA.signup();
    expect((await httpB.get('/users/me', { token: user.accessToken })).status).toBe(200);
    const stateB = b.app.get(AuthStateService);

    // Cut B's LISTEN connection from the server side.
    await a.connection.db.execute(
      `select pg_terminate_backend(pid) from pg_stat_activity
        where datname = current_database() and application_name = '${LISTEN_APPLICATION_NAME}'`,
    );
    await until(() => !stateB.cachingEnabled);
    // A revocation while B cannot hear it: B still refuses, because it reads the database.
    expect((await httpA.post('/auth/signout', { token: user.accessToken })).status).toBe(204);
    expectError(await httpB.get('/users/me', { token: user.accessToken }), 401, 'session_revoked');

    // B reconnects by itself and caches again.
    delays.reconnect = await until(() => stateB.cachingEnabled);
    expectError(await httpB.get('/users/me', { token: user.accessToken }), 401, 'session_revoked');
  });
});
