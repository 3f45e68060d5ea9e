import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApp, signinRoot } from '../support/admin.js';
import { expectError, Http } from '../support/http.js';
import {
  basic,
  clientToken,
  createClient,
  expectOAuthError,
  postForm,
  type TestClient,
} from '../support/oauth.js';
import { createTestApp, type TestApp } from '../support/test-app.js';
import { decodeJwt } from '../support/tokens.js';

/**
 * Issue 17: POST /oauth/token, the client-credentials grant (RFC 6749 §4.4), held to an outside
 * client library (oauth4webapi, over real HTTP), and every refusal in RFC 6749 §5.2's shape.
 */
describe('POST /oauth/token: the client credentials grant', () => {
  let t: TestApp;
  let http: Http;
  let base: string;
  let as: oauth.AuthorizationServer;
  let admin: { accessToken: string; id: string };
  let client: TestClient;
  const insecure = { [oauth.allowInsecureRequests]: true };

  beforeAll(async () => {
    t = await createAdminApp();
    http = new Http(t.app);
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as { port: number }).port}`;
    as = {
      issuer: t.config.jwt.issuer,
      token_endpoint: `${base}/oauth/token`,
      introspection_endpoint: `${base}/oauth/introspect`,
    };
    admin = await signinRoot(http);
    client = await createClient(http, admin.accessToken, ['introspect', 'orders:read', 'orders:write']);
  });
  afterAll(() => t.close());

  it('issues a token to oauth4webapi with client_secret_basic: Bearer, expires_in, the scope asked for', async () => {
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      { client_id: client.clientId },
      oauth.ClientSecretBasic(client.clientSecret),
      new URLSearchParams({ scope: 'orders:read' }),
      insecure,
    );
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('content-encoding')).toBeNull();
    const result = await oauth.processClientCredentialsResponse(as, { client_id: client.clientId }, response);
    expect(result.token_type).toBe('bearer'); // oauth4webapi normalises the case
    expect(result.expires_in).toBe(t.config.jwt.accessTokenTtl);
    expect(result.scope).toBe('orders:read');

    const { header, payload } = decodeJwt(result.access_token);
    expect(header).toMatchObject({ typ: 'at+jwt', alg: t.config.jwt.alg });
    expect(payload).toMatchObject({
      iss: t.config.jwt.issuer,
      aud: t.config.jwt.audience,
      sub: client.clientId,
      client_id: client.clientId,
      scope: 'orders:read',
    });
    expect(payload).not.toHaveProperty('sid');
    expect(payload).not.toHaveProperty('roles');
    expect(payload.exp - payload.iat).toBe(t.config.jwt.accessTokenTtl);
  });

  it('accepts client_secret_post, and gives every scope of the client when none is asked for', async () => {
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      { client_id: client.clientId },
      oauth.ClientSecretPost(client.clientSecret),
      new URLSearchParams(),
      insecure,
    );
    const result = await oauth.processClientCredentialsResponse(as, { client_id: client.clientId }, response);
    expect(result.scope).toBe('introspect orders:read orders:write');
  });

  it('introspects through oauth4webapi: a client token is active with client_id and scope', async () => {
    const token = await clientToken(http, client, 'orders:write');
    const response = await oauth.introspectionRequest(
      as,
      { client_id: client.clientId },
      oauth.ClientSecretBasic(client.clientSecret),
      token,
      insecure,
    );
    const result = await oauth.processIntrospectionResponse(as, { client_id: client.clientId }, response);
    expect(result).toMatchObject({
      active: true,
      token_type: 'Bearer',
      sub: client.clientId,
      client_id: client.clientId,
      scope: 'orders:write',
      iss: t.config.jwt.issuer,
      aud: t.config.jwt.audience,
    });
    const user = await http.signup();
    const userResult = await oauth.processIntrospectionResponse(
      as,
      { client_id: client.clientId },
      await oauth.introspectionRequest(
        as,
        { client_id: client.clientId },
        oauth.ClientSecretPost(client.clientSecret),
        user.accessToken,
        insecure,
      ),
    );
    expect(userResult).toMatchObject({ active: true, sub: user.id, roles: ['user'] });
  });

  it('answers a wrong secret with invalid_client, which oauth4webapi reads as a 401 challenge', async () => {
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      { client_id: client.clientId },
      oauth.ClientSecretBasic(
        client.clientSecret.slice(0, -1) + (client.clientSecret.endsWith('A') ? 'B' : 'A'),
      ),
      new URLSearchParams(),
      insecure,
    );
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Basic /);
    const error = await oauth
      .processClientCredentialsResponse(as, { client_id: client.clientId }, response)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
  });

  it('answers an unknown scope with invalid_scope, read by oauth4webapi as a ResponseBodyError', async () => {
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      { client_id: client.clientId },
      oauth.ClientSecretBasic(client.clientSecret),
      new URLSearchParams({ scope: 'orders:read admin' }),
      insecure,
    );
    const error = await oauth
      .processClientCredentialsResponse(as, { client_id: client.clientId }, response)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(oauth.ResponseBodyError);
    expect((error as oauth.ResponseBodyError).error).toBe('invalid_scope');
    expect((error as oauth.ResponseBodyError).status).toBe(400);
  });

  it('refuses in RFC 6749 §5.2 shape: grant type, malformed and repeated parameters, missing credentials', async () => {
    expectOAuthError(
      await postForm(http, '/oauth/token', { grant_type: 'password' }, client),
      400,
      'unsupported_grant_type',
    );
    expectOAuthError(
      await postForm(http, '/oauth/token', { grant_type: 'authorization_code', code: 'x' }, client),
      400,
      'unsupported_grant_type',
    );
    expectOAuthError(await postForm(http, '/oauth/token', {}, client), 400, 'invalid_request');
    expectOAuthError(
      await http.post('/oauth/token', {
        payload: 'grant_type=client_credentials&grant_type=client_credentials',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: basic(client.clientId, client.clientSecret),
        },
      }),
      400,
      'invalid_request',
    );
    expectOAuthError(
      await postForm(http, '/oauth/token', { grant_type: 'client_credentials', scope: 'bad"scope' }, client),
      400,
      'invalid_scope',
    );
    expectOAuthError(
      await postForm(http, '/oauth/token', { grant_type: 'client_credentials' }, undefined),
      401,
      'invalid_client',
    );
    // Two methods at once.
    expectOAuthError(
      await postForm(
        http,
        '/oauth/token',
        { grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret },
        client,
      ),
      400,
      'invalid_request',
    );
    // Unknown parameters are ignored (RFC 6749 §3.2).
    const ok = await postForm(
      http,
      '/oauth/token',
      { grant_type: 'client_credentials', resource: 'x' },
      client,
    );
    expect(ok.status, ok.text).toBe(200);
    // A text body: 415, still in the OAuth shape.
    expectOAuthError(
      await http.post('/oauth/token', {
        payload: 'grant_type=client_credentials',
        headers: { 'content-type': 'text/plain', authorization: basic(client.clientId, client.clientSecret) },
      }),
      415,
      'invalid_request',
    );
  });

  it('refuses credentials that are not the client’s: wrong secret, unknown id, malformed Basic, another scheme', async () => {
    const wrong = { ...client, clientSecret: `gh_cs_${'A'.repeat(43)}` };
    const unknown = { ...client, clientId: '0192f000-0000-7000-8000-000000000000' };
    for (const who of [
      wrong,
      unknown,
      { ...client, clientId: 'not-a-uuid' },
      { ...client, clientSecret: '' },
    ]) {
      expectOAuthError(
        await postForm(http, '/oauth/token', { grant_type: 'client_credentials' }, who),
        401,
        'invalid_client',
      );
    }
    for (const authorization of [
      'Basic',
      'Basic !!!',
      'Basic ' + Buffer.from('no-colon').toString('base64'),
      'Digest x',
    ]) {
      const reply = await postForm(
        http,
        '/oauth/token',
        { grant_type: 'client_credentials' },
        { authorization },
      );
      expectOAuthError(reply, 401, 'invalid_client');
      expect(reply.headers['www-authenticate']).toMatch(/^Basic realm="gatehouse"/);
    }
    // client_secret_post with one half only.
    expectOAuthError(
      await postForm(
        http,
        '/oauth/token',
        { grant_type: 'client_credentials', client_id: client.clientId },
        undefined,
      ),
      401,
      'invalid_client',
    );
  });

  it('attack: a user access token is no client credential (Bearer, or as a client secret)', async () => {
    const user = await http.signup();
    expectOAuthError(
      await postForm(
        http,
        '/oauth/token',
        { grant_type: 'client_credentials' },
        { authorization: `Bearer ${user.accessToken}` },
      ),
      401,
      'invalid_client',
    );
    expectOAuthError(
      await postForm(
        http,
        '/oauth/token',
        { grant_type: 'client_credentials' },
        { authorization: basic(user.id, user.accessToken) },
      ),
      401,
      'invalid_client',
    );
    expectOAuthError(
      await postForm(
        http,
        '/oauth/introspect',
        { token: user.accessToken },
        { authorization: `Bearer ${user.accessToken}` },
      ),
      401,
      'invalid_client',
    );
  });

  it('attack: a client token is refused on every user route (401 invalid_token), even with admin-looking scopes', async () => {
    const sneaky = await createClient(http, admin.accessToken, ['users:read', 'clients:write', 'admin']);
    const token = await clientToken(http, sneaky);
    for (const [method, url] of [
      ['GET', '/users/me'],
      ['GET', '/users'],
      ['GET', '/auth/sessions'],
      ['POST', '/auth/signout'],
      ['GET', '/audit-events'],
    ] as const) {
      expectError(await http.request(method, url, { token }), 401, 'invalid_token');
    }
  });

  it('attack: scope escalation — a scope not given to the client is refused outright (no partial token)', async () => {
    const narrow = await createClient(http, admin.accessToken, ['orders:read']);
    for (const scope of ['orders:write', 'orders:read orders:write', 'introspect', 'revocations:read']) {
      expectOAuthError(
        await postForm(http, '/oauth/token', { grant_type: 'client_credentials', scope }, narrow),
        400,
        'invalid_scope',
      );
    }
    // And a token cannot be presented in place of the secret to get more.
    const token = await clientToken(http, narrow);
    expectOAuthError(
      await postForm(
        http,
        '/oauth/token',
        { grant_type: 'client_credentials' },
        { authorization: `Bearer ${token}` },
      ),
      401,
      'invalid_client',
    );
    // Without `introspect` the client cannot introspect (403 insufficient_scope).
    expectOAuthError(await postForm(http, '/oauth/introspect', { token }, narrow), 403, 'insufficient_scope');
  });

  it('compares secrets in constant time: a near-miss and a far miss take the same path', async () => {
    // The comparison is timingSafeEqual over SHA-256 digests (fixed length, whatever was sent), and an
    // unknown id is compared against a dummy hash: every failure does the same work. Measured timing
    // is too noisy on a shared machine to assert; what is asserted is that every kind of miss is the
    // same answer, and that the lookup never short-circuits on the secret's length.
    const replies = await Promise.all(
      [client.clientSecret.slice(0, -1) + '_', client.clientSecret + 'x', 'x', 'gh_cs_' + 'A'.repeat(43)].map(
        (secret) =>
          postForm(
            http,
            '/oauth/token',
            { grant_type: 'client_credentials' },
            { ...client, clientSecret: secret },
          ),
      ),
    );
    const bodies = new Set(replies.map((reply) => `${reply.status} ${reply.text}`));
    expect(bodies.size).toBe(1);
  });

  it('counts issued tokens and failed client authentications in /metrics', async () => {
    const count = async (event: string) => {
      const text = (await http.get('/metrics')).text;
      return Number(
        new RegExp(`^gatehouse_auth_events_total\\{event="${event}"\\} (\\d+)$`, 'm').exec(text)![1],
      );
    };
    const [issued, failed] = [
      await count('client_token_issued'),
      await count('client_authentication_failed'),
    ];
    await clientToken(http, client);
    await postForm(
      http,
      '/oauth/token',
      { grant_type: 'client_credentials' },
      { ...client, clientSecret: 'x' },
    );
    expect(await count('client_token_issued')).toBe(issued + 1);
    expect(await count('client_authentication_failed')).toBe(failed + 1);
  });

  it('is rate limited with /auth/* (429 in the OAuth shape, with Retry-After)', async () => {
    const limited = await createTestApp({ RATE_LIMIT_PER_MINUTE: '2' });
    try {
      const h = new Http(limited.app);
      const statuses = [];
      for (let i = 0; i < 3; i++)
        statuses.push(await postForm(h, '/oauth/token', { grant_type: 'client_credentials' }, undefined));
      expectOAuthError(statuses[2]!, 429, 'too_many_requests');
      expect(statuses[2]!.headers['retry-after']).toMatch(/^\d+$/);
    } finally {
      await limited.close();
    }
  });
});
