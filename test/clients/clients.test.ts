import { eq } from 'drizzle-orm';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { auditEvents, serviceClients } from '../../src/database/schema.js';
import { collectPages, ROOT_EMAIL, ROOT_PASSWORD, signinRoot } from '../support/admin.js';
import { expectError } from '../support/http.js';
import { clientToken, createClient, expectOAuthError, postForm } from '../support/oauth.js';
import { useTestApp } from '../support/test-app.js';
import { NO_THROTTLE, UUID } from '../support/tokens.js';

/**
 * Issue 17, service clients: the admin API (POST/GET/DELETE /clients), the secret shown once and
 * stored hashed, audited, and refused to anyone without clients:read / clients:write.
 */
describe('service clients: the admin API', () => {
  const { t, http } = useTestApp({ ...NO_THROTTLE, ADMIN_EMAIL: ROOT_EMAIL, ADMIN_PASSWORD: ROOT_PASSWORD });

  it('creates a client: 201 with its id and a 256-bit secret shown once, stored only as its SHA-256', async () => {
    const admin = await signinRoot(http);
    const reply = await http.post('/clients', {
      token: admin.accessToken,
      body: { name: ' orders-service ', scopes: ['revocations:read', 'introspect', 'orders:read'] },
    });
    expect(reply.status, reply.text).toBe(201);
    expect(reply.headers['cache-control']).toBe('no-store');
    const body = reply.body;
    expect(Object.keys(body).sort()).toEqual(['clientId', 'clientSecret', 'createdAt', 'name', 'scopes']);
    expect(body.clientId).toMatch(UUID);
    expect(body.clientSecret).toMatch(/^gh_cs_[A-Za-z0-9_-]{43}$/);
    expect(body.name).toBe('orders-service');
    expect(body.scopes).toEqual(['revocations:read', 'introspect', 'orders:read']);

    // The database holds the hash, never the secret.
    const [row] = await t.connection.db
      .select()
      .from(serviceClients)
      .where(eq(serviceClients.id, body.clientId));
    expect(row!.secretHash).toEqual(createHash('sha256').update(body.clientSecret).digest());
    expect(JSON.stringify(row)).not.toContain(body.clientSecret.slice(6));

    // Never shown again: the list has no secret (nor its hash).
    const list = await http.get('/clients', { token: admin.accessToken });
    expect(list.status).toBe(200);
    const listed = list.body.find((c: { clientId: string }) => c.clientId === body.clientId);
    expect(listed).toEqual({
      clientId: body.clientId,
      name: 'orders-service',
      scopes: body.scopes,
      createdAt: body.createdAt,
    });
    expect(list.text).not.toContain(body.clientSecret);

    // Audited, without the secret.
    const events = await t.connection.db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.type, 'client_created'));
    const event = events.find((e) => e.detail.clientId === body.clientId)!;
    expect(event).toMatchObject({ userId: null, actorId: admin.id });
    expect(event.detail).toEqual({ clientId: body.clientId, name: 'orders-service', scopes: body.scopes });
    expect(t.rawLogs()).not.toContain(body.clientSecret);
  });

  it('refuses bad input: empty name, no scopes, malformed or repeated scopes, unknown fields', async () => {
    const admin = await signinRoot(http);
    for (const body of [
      { name: '', scopes: ['introspect'] },
      { name: 'x', scopes: [] },
      { name: 'x', scopes: ['has space'] },
      { name: 'x', scopes: ['a'.repeat(65)] },
      { name: 'x', scopes: ['introspect', 'introspect'] },
      { name: 'x', scopes: ['introspect'], clientSecret: 'gh_cs_mine' },
      { name: 'x\u0000', scopes: ['introspect'] },
      { name: 'x', scopes: Array.from({ length: 51 }, (_, i) => `s${i}`) },
    ]) {
      expectError(await http.post('/clients', { token: admin.accessToken, body }), 400, 'validation_failed');
    }
  });

  it('pages the list like /users, newest first', async () => {
    const admin = await signinRoot(http);
    const made: { clientId: string }[] = [];
    for (let i = 0; i < 5; i++)
      made.push(await createClient(http, admin.accessToken, ['introspect'], `paged-${i}`));
    const { pages } = await collectPages(http, '/clients?limit=2', admin.accessToken);
    const ids = pages.flat().map((c: { clientId: string }) => c.clientId);
    expect(new Set(ids).size).toBe(ids.length);
    const mine = ids.filter((id: string) => made.some((c) => c.clientId === id));
    expect(mine).toEqual(made.map((c) => c.clientId).reverse());
    expectError(await http.get('/clients?limit=0', { token: admin.accessToken }), 400, 'validation_failed');
    expectError(
      await http.get('/clients?cursor=nope', { token: admin.accessToken }),
      400,
      'validation_failed',
    );
  });

  it('deletes a client: 204, audited; it can no longer authenticate and its tokens are inactive at once', async () => {
    const admin = await signinRoot(http);
    const client = await createClient(http, admin.accessToken, ['introspect', 'orders:read']);
    const inspector = await createClient(http, admin.accessToken, ['introspect']);
    const token = await clientToken(http, client);
    expect((await postForm(http, '/oauth/introspect', { token }, inspector)).body.active).toBe(true);

    const reply = await http.delete(`/clients/${client.clientId}`, { token: admin.accessToken });
    expect(reply.status, reply.text).toBe(204);
    expect((await postForm(http, '/oauth/introspect', { token }, inspector)).body).toEqual({ active: false });
    expectOAuthError(
      await postForm(http, '/oauth/token', { grant_type: 'client_credentials' }, client),
      401,
      'invalid_client',
    );
    const [row] = await t.connection.db
      .select()
      .from(serviceClients)
      .where(eq(serviceClients.id, client.clientId));
    expect(row).toBeUndefined();
    const events = await t.connection.db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.type, 'client_deleted'));
    expect(events.find((e) => e.detail.clientId === client.clientId)).toMatchObject({ actorId: admin.id });

    expectError(
      await http.delete(`/clients/${client.clientId}`, { token: admin.accessToken }),
      404,
      'not_found',
    );
    expectError(
      await http.delete('/clients/not-a-uuid', { token: admin.accessToken }),
      400,
      'validation_failed',
    );
  });

  it('refuses a plain user (403 forbidden, before validation) and an anonymous caller (401)', async () => {
    const admin = await signinRoot(http);
    const client = await createClient(http, admin.accessToken);
    const user = await http.signup();
    expectError(await http.get('/clients', { token: user.accessToken }), 403, 'forbidden');
    expectError(
      await http.post('/clients', {
        token: user.accessToken,
        body: { name: 'mine', scopes: ['introspect'] },
      }),
      403,
      'forbidden',
    );
    expectError(
      await http.post('/clients', { token: user.accessToken, body: { bad: true } }),
      403,
      'forbidden',
    );
    expectError(
      await http.delete(`/clients/${client.clientId}`, { token: user.accessToken }),
      403,
      'forbidden',
    );
    expectError(await http.get('/clients'), 401, 'missing_token');
    // The client still exists: the user's DELETE changed nothing.
    const [row] = await t.connection.db
      .select()
      .from(serviceClients)
      .where(eq(serviceClients.id, client.clientId));
    expect(row).toBeDefined();
  });

  it("refuses a client's own token on the admin API (401 invalid_token: it is no user's)", async () => {
    const admin = await signinRoot(http);
    const client = await createClient(http, admin.accessToken, ['introspect', 'clients:write']);
    const token = await clientToken(http, client);
    expectError(await http.get('/clients', { token }), 401, 'invalid_token');
    expectError(
      await http.post('/clients', { token, body: { name: 'x', scopes: ['a'] } }),
      401,
      'invalid_token',
    );
  });
});
