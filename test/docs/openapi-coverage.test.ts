import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApp, patchUser, ROOT_EMAIL, ROOT_PASSWORD, signinRoot } from '../support/admin.js';
import { type AuthBody, expectError, GOOD_PASSWORD, Http, type Reply, uniqueEmail } from '../support/http.js';
import { exercised } from '../support/openapi-validation.js';
import { mailEnv } from '../support/mail.js';
import { passwordStep, totpAt } from '../support/mfa.js';
import { TestSmtpServer } from '../support/smtp-server.js';
import { basic, createClient, expectOAuthError, postForm } from '../support/oauth.js';
import { createTestApp, type TestApp } from '../support/test-app.js';
import { NO_THROTTLE } from '../support/tokens.js';

/**
 * Drives every operation of the OpenAPI document to each status it documents,
 * through `Http` (which validates every response against the document), then
 * checks that nothing documented was left unexercised: a status documented but
 * never sent is as wrong as one sent but never documented.
 */

const METRICS_TOKEN = 'coverage-metrics-token-0123456789';

/** Statuses no request of this file produces, and why. */
const NOT_DRIVEN_HERE: Record<string, string> = {
  500: 'an unexpected failure (a bug): test/http/errors.test.ts provokes one and the harness checks it',
};

interface Operation {
  method: string;
  template: string;
  statuses: string[];
  security: Record<string, string[]>[];
  hasBody: boolean;
}

/** A concrete URL for a documented path: an unknown UUID for each parameter. */
const fill = (template: string) => template.replace(/\{\w+\}/g, () => randomUUID());

/** A link token of the right shape that no link has. */
const UNKNOWN_LINK = `gh_lt_${'A'.repeat(43)}`;

/**
 * MFA on for a signed-in user, with real time: the code of the current step
 * (the next step's stays free for a later use); returns the recovery codes.
 */
async function enableMfa(http: Http, user: AuthBody): Promise<{ secret: string; recoveryCodes: string[] }> {
  const enrol = await http.post('/auth/mfa/totp', {
    token: user.accessToken,
    body: { currentPassword: GOOD_PASSWORD },
  });
  expect(enrol.status, enrol.text).toBe(200);
  const confirm = await http.post('/auth/mfa/totp/confirm', {
    token: user.accessToken,
    body: { code: totpAt(enrol.body.secret) },
  });
  expect(confirm.status, confirm.text).toBe(200);
  return { secret: enrol.body.secret, recoveryCodes: confirm.body.recoveryCodes };
}

describe('the OpenAPI document, operation by operation', () => {
  let t: TestApp;
  let http: Http;
  let operations: Operation[];
  let root: AuthBody;
  let plain: AuthBody;
  let smtp: TestSmtpServer;

  beforeAll(async () => {
    smtp = await TestSmtpServer.start();
    t = await createAdminApp({ METRICS_TOKEN, ...mailEnv(smtp) });
    http = new Http(t.app);
    const doc = (await http.get('/docs/openapi.json')).body;
    operations = Object.entries<Record<string, any>>(doc.paths).flatMap(([template, item]) =>
      Object.entries<any>(item).map(([method, operation]) => ({
        method: method.toUpperCase(),
        template,
        statuses: Object.keys(operation.responses),
        security: operation.security ?? doc.security,
        hasBody: ['POST', 'PATCH', 'PUT', 'DELETE'].includes(method.toUpperCase()),
      })),
    );
    root = await signinRoot(http);
    plain = await http.signup();
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.stop();
  });

  const protectedOperations = () =>
    operations.filter((op) => op.security.length > 0 && op.security.every((r) => Object.keys(r).length > 0));

  it('drives the success of every operation', async () => {
    const expectStatus = (reply: Reply, status: number) => expect(reply.status, reply.text).toBe(status);
    // Public entry points.
    const user = await http.signup();
    expectStatus(
      await http.post('/auth/signin', { body: { email: user.email, password: GOOD_PASSWORD } }),
      200,
    );
    // The body form of refresh, then the header form (no body).
    const refreshed = await http.post('/auth/refresh', { body: { refreshToken: user.refreshToken } });
    expectStatus(refreshed, 200);
    expectStatus(await http.post('/auth/refresh', { token: refreshed.body.refreshToken }), 200);
    expectStatus(await http.get('/.well-known/jwks.json'), 200);
    expectStatus(await http.get('/.well-known/oauth-authorization-server'), 200);
    expectStatus(await http.get('/.well-known/openid-configuration'), 200);
    expectStatus(await http.get('/health/live'), 200);
    expectStatus(await http.get('/health/ready'), 200);
    expectStatus(await http.get('/metrics', { token: METRICS_TOKEN }), 200);

    // The signed-in user.
    const token = plain.accessToken;
    expectStatus(await http.get('/users/me', { token }), 200);
    const second = await http.signin(plain.email);
    const sessions = await http.get('/auth/sessions?limit=1', { token });
    expectStatus(sessions, 200);
    expect(sessions.headers.link, 'a next page').toMatch(/rel="next"/);
    const other = (await http.get('/auth/sessions', { token })).body.find(
      (s: { current: boolean }) => !s.current,
    );
    expectStatus(await http.delete(`/auth/sessions/${other.id}`, { token }), 204);
    expect(second).toBeDefined();
    expectStatus(
      await http.post('/auth/password', {
        token,
        body: { currentPassword: GOOD_PASSWORD, newPassword: 'another long passphrase 2' },
      }),
      204,
    );
    const a = await http.signup();
    expectStatus(await http.post('/auth/signout', { token: a.accessToken }), 204);
    const b = await http.signup();
    expectStatus(await http.post('/auth/signout/all', { token: b.accessToken }), 204);

    // The admin.
    const admin = root.accessToken;
    expectStatus(await http.get('/users?limit=1', { token: admin }), 200);
    expectStatus(await http.get(`/users/${user.id}`, { token: admin }), 200);
    await patchUser(http, admin, user.id, { disabled: false });
    expectStatus(await http.delete(`/users/${user.id}/sessions`, { token: admin }), 204);
    expectStatus(await http.delete(`/users/${user.id}`, { token: admin }), 204);
    expectStatus(await http.get('/audit-events?limit=1', { token: admin }), 200);
    const rotated = await http.post('/keys/rotate', { token: admin });
    expectStatus(rotated, 201);
    expectError(await http.post('/keys/rotate', { token: admin }), 409, 'rotation_pending');
    expectStatus(
      await http.post(`/keys/${rotated.body.kid}/revoke`, { token: admin, body: { endSessions: true } }),
      200,
    );
  });

  it('drives the mail flows: verification, password reset, email change', async () => {
    const expectStatus = (reply: Reply, status: number) => expect(reply.status, reply.text).toBe(status);
    // The signup's own verification mail first: the link asked for next replaces its link.
    const email = uniqueEmail('mail');
    const signupMail = smtp.nextMailTo(email, 'Verify your email address');
    const user = await http.signup(email);
    await signupMail;
    const verifyMail = smtp.nextMailTo(user.email, 'Verify your email address');
    expectStatus(await http.post('/auth/email/verify', { token: user.accessToken }), 202);
    const { token: verifyToken } = await verifyMail;
    expectStatus(await http.post('/auth/email/verify/confirm', { body: { token: verifyToken } }), 204);
    expectError(await http.post('/auth/email/verify', { token: user.accessToken }), 409, 'already_verified');

    const resetMail = smtp.nextMailTo(user.email, 'Reset your password');
    expectStatus(await http.post('/auth/password/forgot', { body: { email: user.email } }), 202);
    const { token: resetToken } = await resetMail;
    expectStatus(
      await http.post('/auth/password/reset', { body: { token: resetToken, newPassword: GOOD_PASSWORD } }),
      204,
    );

    const signedIn = await http.signin(user.email);
    const newEmail = uniqueEmail('changed');
    const change = (email: string) =>
      http.post('/auth/email', {
        token: signedIn.accessToken,
        body: { newEmail: email, currentPassword: GOOD_PASSWORD },
      });
    expectError(await change(plain.email), 409, 'email_taken');
    const changeMail = smtp.nextMailTo(newEmail, 'Confirm your new email address');
    expectStatus(await change(newEmail), 202);
    const { token: changeToken } = await changeMail;
    // The address is taken meanwhile: the link cannot be used.
    await http.signup(newEmail);
    expectError(await http.post('/auth/email/confirm', { body: { token: changeToken } }), 409, 'email_taken');
    const again = await http.signin(user.email);
    const otherEmail = uniqueEmail('changed');
    const otherMail = smtp.nextMailTo(otherEmail, 'Confirm your new email address');
    expectStatus(
      await http.post('/auth/email', {
        token: again.accessToken,
        body: { newEmail: otherEmail, currentPassword: GOOD_PASSWORD },
      }),
      202,
    );
    expectStatus(await http.post('/auth/email/confirm', { body: { token: (await otherMail).token } }), 204);
  });

  it('drives multi-factor authentication: enrolment, signin, recovery codes, removal', async () => {
    const expectStatus = (reply: Reply, status: number) => expect(reply.status, reply.text).toBe(status);
    const admin = root.accessToken;
    // Nothing to act on without MFA: 409.
    const off = await http.signup();
    expectError(
      await http.post('/auth/mfa/totp/confirm', { token: off.accessToken, body: { code: '123456' } }),
      409,
      'mfa_not_pending',
    );
    for (const [method, path] of [
      ['POST', '/auth/mfa/recovery-codes'],
      ['DELETE', '/auth/mfa/totp'],
    ] as const) {
      const reply = await http.request(method, path, { token: off.accessToken, body: { code: '123456' } });
      expectError(reply, 409, 'mfa_not_enabled');
    }
    expectError(await http.delete(`/users/${off.id}/mfa`, { token: admin }), 409, 'mfa_not_enabled');

    const user = await http.signup();
    const { secret, recoveryCodes } = await enableMfa(http, user);
    expectError(
      await http.post('/auth/mfa/totp', {
        token: user.accessToken,
        body: { currentPassword: GOOD_PASSWORD },
      }),
      409,
      'mfa_already_enabled',
    );
    // The next step's code: the confirmation used this one.
    const renewed = await http.post('/auth/mfa/recovery-codes', {
      token: user.accessToken,
      body: { code: totpAt(secret, Date.now() + 30_000) },
    });
    expectStatus(renewed, 200);
    const codes = renewed.body.recoveryCodes as string[];
    expect(codes).not.toEqual(recoveryCodes);

    // Signin: the password step, then the second factor.
    expectError(
      await http.post('/auth/signin/mfa', { body: { mfaToken: 'no-such-token', recoveryCode: codes[0] } }),
      401,
      'invalid_mfa_token',
    );
    const signedIn = await http.post('/auth/signin/mfa', {
      body: { mfaToken: await passwordStep(http, user.email), recoveryCode: codes[0] },
    });
    expectStatus(signedIn, 200);
    expectStatus(
      await http.request('DELETE', '/auth/mfa/totp', {
        token: signedIn.body.accessToken,
        body: { code: codes[1] },
      }),
      204,
    );

    // An admin removes MFA (a lost device); a disabled account cannot finish its signin.
    const other = await http.signup();
    const { recoveryCodes: otherCodes } = await enableMfa(http, other);
    const mfaToken = await passwordStep(http, other.email);
    await patchUser(http, admin, other.id, { disabled: true });
    expectError(
      await http.post('/auth/signin/mfa', { body: { mfaToken, recoveryCode: otherCodes[0] } }),
      403,
      'account_disabled',
    );
    expectStatus(await http.delete(`/users/${other.id}/mfa`, { token: admin }), 204);
  });

  it('drives cookie mode, and refuses its requests from an untrusted origin (403 csrf_rejected)', async () => {
    const origin = new URL(t.config.publicUrl).origin;
    const email = uniqueEmail('cookie');
    const body = { email, password: GOOD_PASSWORD };
    const signup = await http.post('/auth/signup?cookie=1', { body, headers: { origin } });
    expect(signup.status, signup.text).toBe(201);
    expect(signup.headers['set-cookie']).toMatch(/^(__Secure-)?gh_refresh=gh_rt_/);
    const signin = await http.post('/auth/signin?cookie=1', { body, headers: { origin } });
    expect(signin.status, signin.text).toBe(200);
    const cookie = String(signin.headers['set-cookie']).split(';')[0]!;
    const refreshed = await http.post('/auth/refresh?cookie=1', { headers: { cookie, origin } });
    expect(refreshed.status, refreshed.text).toBe(200);
    const next = String(refreshed.headers['set-cookie']).split(';')[0]!;
    const evil = { origin: 'https://evil.example.net' };
    expectError(await http.post('/auth/signup?cookie=1', { body, headers: evil }), 403, 'csrf_rejected');
    expectError(await http.post('/auth/signin?cookie=1', { body, headers: evil }), 403, 'csrf_rejected');
    expectError(
      await http.post('/auth/signin/mfa?cookie=1', {
        body: { mfaToken: 'x', code: '123456' },
        headers: evil,
      }),
      403,
      'csrf_rejected',
    );
    expectError(
      await http.post('/auth/refresh', { headers: { cookie: next, ...evil } }),
      403,
      'csrf_rejected',
    );
    expectError(await http.post('/auth/refresh', { headers: { cookie: next } }), 403, 'csrf_rejected');
  });

  it('refuses every protected operation without a token (401)', async () => {
    for (const op of protectedOperations()) {
      const reply = await http.request(op.method, fill(op.template));
      expect(reply.status, `${op.method} ${op.template}`).toBe(401);
    }
    expectError(await http.get('/metrics'), 401, 'missing_token');
    expectError(await http.post('/auth/refresh', { token: 'gh_rt_unknown' }), 401, 'invalid_refresh_token');
    expectError(
      await http.post('/auth/signin', { body: { email: plain.email, password: 'wrong password!' } }),
      401,
      'invalid_credentials',
    );
  });

  it('refuses a plain user every operation that needs a permission (403), and a disabled account its signin', async () => {
    for (const op of operations.filter(
      // /oauth/ refuses clients, not users (403 insufficient_scope): driven with the OAuth routes.
      (o) =>
        o.statuses.includes('403') && !o.template.startsWith('/auth/') && !o.template.startsWith('/oauth/'),
    )) {
      expectError(
        await http.request(op.method, fill(op.template), { token: plain.accessToken }),
        403,
        'forbidden',
      );
    }
    const disabled = await http.signup();
    await patchUser(http, root.accessToken, disabled.id, { disabled: true });
    expectError(
      await http.post('/auth/signin', { body: { email: disabled.email, password: GOOD_PASSWORD } }),
      403,
      'account_disabled',
    );
  });

  it('refuses a malformed (400), an over-large (413) and a non-JSON (415) body on every body method', async () => {
    for (const op of operations.filter((o) => o.hasBody)) {
      const url = fill(op.template);
      const label = `${op.method} ${op.template}`;
      const json = { 'content-type': 'application/json' };
      const malformed = await http.request(op.method, url, { payload: '{"a":', headers: json });
      expect(malformed.status, label).toBe(400);
      const large = await http.request(op.method, url, {
        payload: `"${'x'.repeat(17 * 1024)}"`,
        headers: json,
      });
      expect(large.status, label).toBe(413);
      const text = await http.request(op.method, url, {
        payload: 'hello',
        headers: { 'content-type': 'text/plain' },
      });
      expect(text.status, label).toBe(415);
    }
  });

  it('answers 400 to bad parameters, 404 to unknown ids and 409 to conflicts', async () => {
    const admin = root.accessToken;
    for (const url of [
      '/users?limit=0',
      '/audit-events?limit=0',
      '/auth/sessions?limit=0',
      '/users/not-a-uuid',
    ]) {
      expectError(
        await http.get(url, { token: url.startsWith('/auth') ? plain.accessToken : admin }),
        400,
        'validation_failed',
      );
    }
    expectError(await http.post('/auth/refresh'), 400, 'validation_failed');
    for (const op of operations.filter((o) => o.statuses.includes('404'))) {
      const token = op.template.startsWith('/auth/') ? plain.accessToken : admin;
      const body = op.method === 'PATCH' ? { disabled: false } : undefined;
      expectError(await http.request(op.method, fill(op.template), { token, body }), 404, 'not_found');
    }
    expectError(
      await http.post('/auth/signup', { body: { email: plain.email, password: GOOD_PASSWORD } }),
      409,
      'email_taken',
    );
    expectError(
      await http.patch(`/users/${root.id}`, { token: admin, body: { roles: ['user'] } }),
      409,
      'last_admin',
    );
    expectError(await http.delete(`/users/${root.id}`, { token: admin }), 409, 'last_admin');
  });

  it('answers 429 on every limited route once its per-minute limit is spent', async () => {
    const limited = await createTestApp({ RATE_LIMIT_PER_MINUTE: '1', OAUTH_RATE_LIMIT_PER_MINUTE: '1' });
    try {
      const limitedHttp = new Http(limited.app);
      // The one request of the minute of each limit (401: no token, no client).
      await limitedHttp.get('/auth/sessions');
      await limitedHttp.request('POST', '/oauth/introspect');
      for (const op of operations.filter((o) => o.statuses.includes('429'))) {
        const reply = await limitedHttp.request(op.method, fill(op.template));
        if (op.template.startsWith('/oauth/')) expectOAuthError(reply, 429, 'too_many_requests');
        else expectError(reply, 429, 'too_many_requests');
      }
    } finally {
      await limited.close();
    }
  });

  it('answers 503 on every operation that needs the database once it is gone', async () => {
    const down = await createTestApp({
      ...NO_THROTTLE,
      ADMIN_EMAIL: ROOT_EMAIL,
      ADMIN_PASSWORD: ROOT_PASSWORD,
    });
    try {
      const downHttp = new Http(down.app);
      const admin = await signinRoot(downHttp);
      // A second user half-way through an MFA signin.
      const mfaUser = await downHttp.signup();
      await enableMfa(downHttp, mfaUser);
      const mfaToken = await passwordStep(downHttp, mfaUser.email);
      const client = await createClient(downHttp, admin.accessToken);
      await down.connection.close();
      // A body each operation accepts, so that it reaches the database.
      const bodies: Record<string, unknown> = {
        'POST /auth/signup': { email: uniqueEmail(), password: GOOD_PASSWORD },
        'POST /auth/signin': { email: uniqueEmail(), password: GOOD_PASSWORD },
        'POST /auth/signin/mfa': { mfaToken, code: '123456' },
        'POST /auth/refresh': { refreshToken: admin.refreshToken },
        'POST /auth/password': { currentPassword: GOOD_PASSWORD, newPassword: 'another long passphrase 3' },
        'POST /auth/password/forgot': { email: uniqueEmail() },
        'POST /auth/password/reset': { token: UNKNOWN_LINK, newPassword: 'another long passphrase 3' },
        'POST /auth/email': { newEmail: uniqueEmail(), currentPassword: GOOD_PASSWORD },
        'POST /auth/email/verify/confirm': { token: UNKNOWN_LINK },
        'POST /auth/email/confirm': { token: UNKNOWN_LINK },
        'POST /auth/mfa/totp': { currentPassword: GOOD_PASSWORD },
        'POST /auth/mfa/totp/confirm': { code: '123456' },
        'POST /auth/mfa/recovery-codes': { code: '123456' },
        'DELETE /auth/mfa/totp': { code: '123456' },
        'PATCH /users/{id}': { disabled: false },
        'POST /clients': { name: 'down', scopes: ['introspect'] },
      };
      for (const op of operations.filter((o) => o.statuses.includes('503'))) {
        // An access token where one is asked for (never beside a refresh token or on the public routes).
        const needsToken = op.security.length > 0 && op.security.every((r) => 'bearer' in r);
        if (op.template.startsWith('/oauth/')) {
          // The client's credentials are checked against the database first.
          const fields = { grant_type: 'client_credentials', token: admin.accessToken };
          const reply =
            op.method === 'GET'
              ? await downHttp.get(op.template, {
                  headers: { authorization: basic(client.clientId, client.clientSecret) },
                })
              : await postForm(downHttp, op.template, fields, client);
          expectOAuthError(reply, 503, 'temporarily_unavailable');
          continue;
        }
        const reply = await downHttp.request(op.method, fill(op.template), {
          token: needsToken ? admin.accessToken : undefined,
          body: bodies[`${op.method} ${op.template}`],
        });
        expectError(reply, 503, 'unavailable');
      }
    } finally {
      await down.close();
    }
  });

  it('drives service clients and the OAuth routes to each status they document', async () => {
    const admin = root.accessToken;
    const client = await createClient(http, admin, ['introspect', 'revocations:read', 'orders:read']);
    const narrow = await createClient(http, admin, ['orders:read']);
    const auth = { authorization: basic(client.clientId, client.clientSecret) };
    expectError(
      await http.post('/clients', { token: admin, body: { name: '', scopes: [] } }),
      400,
      'validation_failed',
    );
    expectError(await http.delete('/clients/not-a-uuid', { token: admin }), 400, 'validation_failed');
    expectError(await http.get('/clients?limit=1000', { token: admin }), 400, 'validation_failed');
    expect((await http.get('/clients?limit=1', { token: admin })).status).toBe(200);

    const token = await postForm(http, '/oauth/token', { grant_type: 'client_credentials' }, client);
    expect(token.status, token.text).toBe(200);
    expectOAuthError(
      await postForm(http, '/oauth/token', { grant_type: 'password' }, client),
      400,
      'unsupported_grant_type',
    );
    expectOAuthError(
      await postForm(http, '/oauth/token', { grant_type: 'client_credentials', scope: 'x' }, client),
      400,
      'invalid_scope',
    );
    expectOAuthError(
      await postForm(http, '/oauth/token', { grant_type: 'client_credentials' }, undefined),
      401,
      'invalid_client',
    );

    expect(
      (await postForm(http, '/oauth/introspect', { token: token.body.access_token }, client)).body.active,
    ).toBe(true);
    expectOAuthError(await postForm(http, '/oauth/introspect', {}, client), 400, 'invalid_request');
    expectOAuthError(
      await postForm(http, '/oauth/introspect', { token: 'x' }, undefined),
      401,
      'invalid_client',
    );
    expectOAuthError(
      await postForm(http, '/oauth/introspect', { token: 'x' }, narrow),
      403,
      'insufficient_scope',
    );

    expect((await http.get('/oauth/revocations', { headers: auth })).status).toBe(200);
    expectOAuthError(await http.get('/oauth/revocations?since=x', { headers: auth }), 400, 'invalid_request');
    expectOAuthError(await http.get('/oauth/revocations'), 401, 'invalid_client');
    expectOAuthError(
      await http.get('/oauth/revocations', {
        headers: { authorization: basic(narrow.clientId, narrow.clientSecret) },
      }),
      403,
      'insufficient_scope',
    );
    expect((await http.delete(`/clients/${narrow.clientId}`, { token: admin })).status).toBe(204);
  });

  it('exercised every documented operation with every status it documents', () => {
    const missing: string[] = [];
    for (const op of operations) {
      const seen = exercised.get(`${op.method} ${op.template}`) ?? new Set<number>();
      for (const status of op.statuses) {
        if (!seen.has(Number(status)) && !(status in NOT_DRIVEN_HERE)) {
          missing.push(`${op.method} ${op.template} ${status}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });
});
