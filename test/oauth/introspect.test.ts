import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { sessions } from '../../src/database/schema.js';
import { type AccessTokenClaims, signAccessToken } from '../../src/keys/access-token.js';
import { SigningKeysService } from '../../src/keys/signing-keys.service.js';
import { ROOT_EMAIL, ROOT_PASSWORD, signinRoot } from '../support/admin.js';
import { clientToken, createClient, expectOAuthError, postForm, type TestClient } from '../support/oauth.js';
import { useTestApp } from '../support/test-app.js';
import { b64url, decodeJwt, NO_THROTTLE } from '../support/tokens.js';

/**
 * Issue 17: POST /oauth/introspect (RFC 7662). `{ active: false }` for every token that is not valid
 * now — each kind tried — and the current state otherwise, seen at once after a revocation.
 */
describe('POST /oauth/introspect', () => {
  const { t, http } = useTestApp({ ...NO_THROTTLE, ADMIN_EMAIL: ROOT_EMAIL, ADMIN_PASSWORD: ROOT_PASSWORD });

  async function setUp(): Promise<{ admin: { accessToken: string }; inspector: TestClient }> {
    const admin = await signinRoot(http);
    return { admin, inspector: await createClient(http, admin.accessToken, ['introspect']) };
  }
  const introspect = async (inspector: TestClient, token: string) => {
    const reply = await postForm(http, '/oauth/introspect', { token }, inspector);
    expect(reply.status, reply.text).toBe(200);
    expect(reply.headers['cache-control']).toBe('no-store');
    return reply.body as Record<string, unknown>;
  };

  it("shows an active user's token with the session and the roles the user has now", async () => {
    const { admin, inspector } = await setUp();
    const user = await http.signup();
    const claims = decodeJwt(user.accessToken).payload;
    expect(await introspect(inspector, user.accessToken)).toEqual({
      active: true,
      token_type: 'Bearer',
      sub: user.id,
      sid: claims.sid,
      roles: ['user'],
      amr: ['pwd'],
      iss: claims.iss,
      aud: claims.aud,
      iat: claims.iat,
      exp: claims.exp,
      jti: claims.jti,
    });
    // Promoted: the same token now introspects with the new roles.
    expect(
      (await http.patch(`/users/${user.id}`, { token: admin.accessToken, body: { roles: ['admin'] } }))
        .status,
    ).toBe(200);
    expect((await introspect(inspector, user.accessToken)).roles).toEqual(['admin']);
  });

  it('answers { active: false } — nothing else — for every token that is not valid now', async () => {
    const { admin, inspector } = await setUp();
    const inactive: Record<string, string> = {};

    const signedOut = await http.signup();
    await http.post('/auth/signout', { token: signedOut.accessToken });
    inactive['signed out'] = signedOut.accessToken;

    const disabled = await http.signup();
    await http.patch(`/users/${disabled.id}`, { token: admin.accessToken, body: { disabled: true } });
    inactive['disabled user'] = disabled.accessToken;

    const deleted = await http.signup();
    await http.delete(`/users/${deleted.id}`, { token: admin.accessToken });
    inactive['deleted user'] = deleted.accessToken;

    const ended = await http.signup();
    await http.delete(`/users/${ended.id}/sessions`, { token: admin.accessToken });
    inactive['sessions ended by an admin'] = ended.accessToken;

    const gone = await createClient(http, admin.accessToken, ['orders:read']);
    const goneToken = await clientToken(http, gone);
    await http.delete(`/clients/${gone.clientId}`, { token: admin.accessToken });
    inactive['deleted client'] = goneToken;

    const live = await http.signup();
    inactive['refresh token'] = live.refreshToken;
    const { header, payload, segments } = decodeJwt(live.accessToken);
    inactive['forged signature'] =
      `${segments[0]}.${b64url({ ...payload, roles: ['admin'] })}.${segments[2]}`;
    inactive['foreign issuer'] =
      `${b64url(header)}.${b64url({ ...payload, iss: 'https://evil.example' })}.${segments[2]}`;
    inactive['alg none'] = `${b64url({ alg: 'none', typ: 'at+jwt' })}.${segments[1]}.`;
    inactive.garbage = 'not a token';
    inactive.empty = '';
    inactive.huge = 'a'.repeat(10_000);

    // Expired: its session ended at its absolute end (made to pass in the database).
    const expired = await http.signup();
    await t.connection.db
      .update(sessions)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(eq(sessions.id, decodeJwt(expired.accessToken).payload.sid as string));
    inactive['session past its end'] = expired.accessToken;

    for (const [kind, token] of Object.entries(inactive)) {
      expect(await introspect(inspector, token), kind).toEqual({ active: false });
    }
    // The one live token really is active (the list above is not inactive by accident).
    expect((await introspect(inspector, live.accessToken)).active).toBe(true);
  });

  it('sees an expired token as inactive (a token past exp)', async () => {
    const { inspector } = await setUp();
    const user = await http.signup();
    // A token whose exp has passed: signed by the service's own key with a past exp.
    const claims = decodeJwt(user.accessToken).payload;
    const now = Math.floor(Date.now() / 1000);
    const token = signAccessToken(t.app.get(SigningKeysService).currentKey(), {
      ...(claims as unknown as AccessTokenClaims),
      iat: now - 1000,
      exp: now - 100,
    });
    expect(await introspect(inspector, token)).toEqual({ active: false });
  });

  it('requires client authentication and the scope `introspect`', async () => {
    const { admin, inspector } = await setUp();
    const user = await http.signup();
    expectOAuthError(
      await postForm(http, '/oauth/introspect', { token: user.accessToken }, undefined),
      401,
      'invalid_client',
    );
    expectOAuthError(
      await postForm(
        http,
        '/oauth/introspect',
        { token: user.accessToken },
        { ...inspector, clientSecret: 'gh_cs_x' },
      ),
      401,
      'invalid_client',
    );
    const feedOnly = await createClient(http, admin.accessToken, ['revocations:read']);
    expectOAuthError(
      await postForm(http, '/oauth/introspect', { token: user.accessToken }, feedOnly),
      403,
      'insufficient_scope',
    );
    expectOAuthError(await postForm(http, '/oauth/introspect', {}, inspector), 400, 'invalid_request');
    // client_secret_post works too.
    const posted = await postForm(
      http,
      '/oauth/introspect',
      { token: user.accessToken, client_id: inspector.clientId, client_secret: inspector.clientSecret },
      undefined,
    );
    expect(posted.body.active).toBe(true);
  });
});

describe('rate limits of introspection and the feed', () => {
  // RATE_LIMIT_PER_MINUTE (the /auth one) does not reach them: a resource server must not be cut
  // off by a burst of signins from the same address; they have their own, higher, limit.
  const { http } = useTestApp({
    RATE_LIMIT_PER_MINUTE: '1000',
    OAUTH_RATE_LIMIT_PER_MINUTE: '3',
    ADMIN_EMAIL: ROOT_EMAIL,
    ADMIN_PASSWORD: ROOT_PASSWORD,
  });

  it('counts /oauth/introspect and /oauth/revocations together: the 4th gets 429 in the OAuth shape', async () => {
    const admin = await signinRoot(http);
    const client = await createClient(http, admin.accessToken, ['introspect', 'revocations:read']);
    const auth = {
      authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`,
    };
    expect((await postForm(http, '/oauth/introspect', { token: 'x' }, client)).status).toBe(200);
    expect((await http.get('/oauth/revocations', { headers: auth })).status).toBe(200);
    expect((await postForm(http, '/oauth/introspect', { token: 'x' }, client)).status).toBe(200);
    const limited = await postForm(http, '/oauth/introspect', { token: 'x' }, client);
    expectOAuthError(limited, 429, 'too_many_requests');
    expect(limited.headers['retry-after']).toMatch(/^\d+$/);
    expectOAuthError(await http.get('/oauth/revocations', { headers: auth }), 429, 'too_many_requests');
    // The token endpoint is under the /auth limit, not this one.
    expect((await postForm(http, '/oauth/token', { grant_type: 'client_credentials' }, client)).status).toBe(
      200,
    );
  });
});
