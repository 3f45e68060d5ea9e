import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patchUser, signinRoot } from '../support/admin.js';
import { kidOf } from '../support/tokens.js';
import {
  createServiceClient,
  type Example,
  kitOptions,
  type ListeningGatehouse,
  refusal,
  startExample,
  startGatehouse,
} from './harness.js';

/**
 * examples/resource-server (with @gatehouse/nest) in front of a real
 * Gatehouse: what Gatehouse revokes, the example refuses within 1 s,
 * measured from the revoking response.
 */
describe('the example resource server in front of Gatehouse', () => {
  let gatehouse: ListeningGatehouse;
  let example: Example;
  const delays: Record<string, { lastAccepted: number | undefined; firstRefused: number }> = {};

  beforeAll(async () => {
    gatehouse = await startGatehouse({ JWKS_MAX_AGE: '2s' });
    const client = await createServiceClient(gatehouse.http);
    example = await startExample(kitOptions(gatehouse, client));
  });
  afterAll(async () => {
    console.log('refused by the example after the revoking response (ms sent after):', delays);
    await example?.close();
    await gatehouse?.close();
  });

  /** Asserts the promise and records the measure. */
  function within1s(name: string, measured: { lastAccepted: number | undefined; firstRefused: number }) {
    delays[name] = measured;
    expect(measured.lastAccepted ?? 0, `${name}: a request sent 1 s or more after was accepted`).toBeLessThan(
      1_000,
    );
  }

  it('answers the public route without a token, /me with the verified principal, /reports to admins only', async () => {
    expect((await example.get('/hello')).status).toBe(200);
    expect((await example.get('/me')).body.code).toBe('missing_token');
    const user = await gatehouse.http.signup();
    const me = await example.get('/me', user.accessToken);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ userId: user.id, roles: ['user'], amr: ['pwd'] });
    expect(typeof me.body.sessionId).toBe('string');
    expect((await example.get('/reports', user.accessToken)).body.code).toBe('forbidden');
    const admin = await signinRoot(gatehouse.http);
    expect((await example.get('/reports', admin.accessToken)).status).toBe(200);
  });

  it('signout: refused within 1 s', async () => {
    const user = await gatehouse.http.signup();
    expect((await example.get('/me', user.accessToken)).status).toBe(200);
    const reply = await gatehouse.http.post('/auth/signout', { token: user.accessToken });
    expect(reply.status).toBe(204);
    const measured = await refusal(example, '/me', user.accessToken, 401, performance.now());
    expect(measured.code).toBe('session_revoked');
    within1s('signout', measured);
  });

  it('disabling the user: refused within 1 s', async () => {
    const admin = await signinRoot(gatehouse.http);
    const user = await gatehouse.http.signup();
    expect((await example.get('/me', user.accessToken)).status).toBe(200);
    await patchUser(gatehouse.http, admin.accessToken, user.id, { disabled: true });
    const measured = await refusal(example, '/me', user.accessToken, 401, performance.now());
    expect(measured.code).toBe('session_revoked');
    within1s('disable', measured);
  });

  it('deleting the user: refused within 1 s', async () => {
    const admin = await signinRoot(gatehouse.http);
    const user = await gatehouse.http.signup();
    expect((await example.get('/me', user.accessToken)).status).toBe(200);
    const reply = await gatehouse.http.delete(`/users/${user.id}`, { token: admin.accessToken });
    expect(reply.status).toBe(204);
    const measured = await refusal(example, '/me', user.accessToken, 401, performance.now());
    expect(measured.code).toBe('session_revoked');
    within1s('delete', measured);
  });

  it('a role change: the old token refused within 1 s, a refreshed one carries the new roles and is accepted', async () => {
    const admin = await signinRoot(gatehouse.http);
    const user = await gatehouse.http.signup();
    expect((await example.get('/reports', user.accessToken)).status).toBe(403);
    await patchUser(gatehouse.http, admin.accessToken, user.id, { roles: ['user', 'admin'] });
    const measured = await refusal(example, '/me', user.accessToken, 401, performance.now());
    expect(measured.code).toBe('token_expired'); // the client's cue to refresh
    within1s('role change', measured);
    const refreshed = await gatehouse.http.post('/auth/refresh', {
      body: { refreshToken: user.refreshToken },
    });
    expect(refreshed.status, refreshed.text).toBe(200);
    expect((await example.get('/reports', refreshed.body.accessToken)).status).toBe(200);

    // Demoted again: the admin token is refused, including on the admin-only route.
    await patchUser(gatehouse.http, admin.accessToken, user.id, { roles: ['user'] });
    const demoted = await refusal(example, '/reports', refreshed.body.accessToken, 401, performance.now());
    within1s('role change (demotion)', demoted);
  });

  it("a service client's token: accepted with its scopes on a scoped route, refused once the client is deleted", async () => {
    const admin = await signinRoot(gatehouse.http);
    const created = await gatehouse.http.post('/clients', {
      token: admin.accessToken,
      body: { name: 'inventory-reader', scopes: ['inventory:read'] },
    });
    expect(created.status, created.text).toBe(201);
    const { clientId, clientSecret } = created.body;
    const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
    const issued = await gatehouse.http.post('/oauth/token', {
      payload: 'grant_type=client_credentials',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(issued.status, issued.text).toBe(200);
    const token = issued.body.access_token as string;
    const inventory = await example.get('/inventory', token);
    expect(inventory.status).toBe(200);
    expect(inventory.body).toEqual({ items: 42, client: clientId });
    expect((await example.get('/reports', token)).status).toBe(403);

    const deleted = await gatehouse.http.delete(`/clients/${clientId}`, { token: admin.accessToken });
    expect(deleted.status).toBe(204);
    const measured = await refusal(example, '/inventory', token, 401, performance.now());
    within1s('client deleted', measured);
  });

  it('key rotation: tokens of the old key and of the new one are accepted, no request fails', async () => {
    const admin = await signinRoot(gatehouse.http);
    const user = await gatehouse.http.signup();
    const oldKid = kidOf(user.accessToken);
    expect((await example.get('/me', user.accessToken)).status).toBe(200);
    const rotated = await gatehouse.http.post('/keys/rotate', { token: admin.accessToken });
    expect(rotated.status, rotated.text).toBe(201);
    const newKid = rotated.body.kid as string;

    // Refresh until the new key signs (JWKS_MAX_AGE=2s): every token, old key or new, is accepted.
    let refreshToken = user.refreshToken;
    let token = user.accessToken;
    const deadline = performance.now() + 60_000;
    let requests = 0;
    while (kidOf(token) !== newKid) {
      expect(performance.now() < deadline, 'the new key signs within 60 s').toBe(true);
      const refreshed = await gatehouse.http.post('/auth/refresh', { body: { refreshToken } });
      expect(refreshed.status, refreshed.text).toBe(200);
      ({ accessToken: token, refreshToken } = refreshed.body);
      for (const candidate of [token, user.accessToken]) {
        const reply = await example.get('/me', candidate);
        expect(reply.status, `kid ${kidOf(candidate)}: ${JSON.stringify(reply.body)}`).toBe(200);
        requests++;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(kidOf(token)).not.toBe(oldKid);
    expect((await example.get('/me', token)).status).toBe(200);
    expect(requests).toBeGreaterThan(0);
  });
});
