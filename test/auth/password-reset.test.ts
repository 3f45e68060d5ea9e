import { describe, expect, it, vi } from 'vitest';
import { AuditService } from '../../src/audit/audit.service.js';
import { DATABASE } from '../../src/database/database.module.js';
import type { Database } from '../../src/database/database.types.js';
import { UsersRepository } from '../../src/database/users.repository.js';
import { MailOutbox } from '../../src/mail/mail-outbox.service.js';
import { signinRoot, ROOT_EMAIL, ROOT_PASSWORD } from '../support/admin.js';
import { expectError, GOOD_PASSWORD, type Reply, uniqueEmail } from '../support/http.js';
import { expireLinks, mailEnv, outbox, outboxSettled, PUBLIC_URL } from '../support/mail.js';
import { useSmtpServer } from '../support/smtp-server.js';
import { useTestApp } from '../support/test-app.js';

const NEW_PASSWORD = 'a brand new passphrase 42';

describe('password reset: POST /auth/password/forgot and /auth/password/reset', () => {
  const smtp = useSmtpServer();
  const { t, http } = useTestApp(() =>
    mailEnv(smtp, { EMAIL_VERIFICATION: 'off', ADMIN_EMAIL: ROOT_EMAIL, ADMIN_PASSWORD: ROOT_PASSWORD }),
  );

  /** Asks for a reset of `email` and returns the link mail that arrives. */
  async function resetMail(email: string) {
    const next = smtp.nextMailTo(email, 'Reset your password');
    const reply = await http.post('/auth/password/forgot', { body: { email } });
    expect(reply.status, reply.text).toBe(202);
    return next;
  }

  const reset = (token: string, newPassword = NEW_PASSWORD) =>
    http.post('/auth/password/reset', { body: { token, newPassword } });

  it('mails a link on PUBLIC_URL; the reset sets the password, ends every session, signs nobody in', async () => {
    const user = await http.signup();
    const other = await http.signin(user.email);
    const mail = await resetMail(user.email);
    expect(mail.subject).toContain('Reset your password');
    expect(mail.link).toBe(`${PUBLIC_URL}/console/reset-password#token=${mail.token}`);
    expect(mail.html).toContain(`href="${PUBLIC_URL}/console/reset-password#token=${mail.token}"`);

    const reply = await reset(mail.token!);
    expect(reply.status, reply.text).toBe(204);
    expect(reply.text).toBe(''); // no tokens: it does not sign in

    // Every session ended: access tokens refused at once, refresh tokens dead.
    for (const session of [user, other]) {
      expectError(await http.get('/users/me', { token: session.accessToken }), 401, 'session_revoked');
      expectError(
        await http.post('/auth/refresh', { body: { refreshToken: session.refreshToken } }),
        401,
        'invalid_refresh_token',
      );
    }
    expectError(
      await http.post('/auth/signin', { body: { email: user.email, password: GOOD_PASSWORD } }),
      401,
      'invalid_credentials',
    );
    const signedIn = await http.signin(user.email, NEW_PASSWORD);
    // Using a link sent to the address proves it: the email is verified now.
    expect((await http.get('/users/me', { token: signedIn.accessToken })).body.emailVerified).toBe(true);

    // A notice of the reset goes to the address, without a link.
    const notice = await smtp.waitForMailTo(user.email, 'was reset');
    expect(notice.token).toBeUndefined();
    expect(notice.text).toContain("If this wasn't you");
  });

  it('refuses a used, an expired, a superseded and a malformed token with 400 invalid_link_token', async () => {
    const user = await http.signup();
    const first = await resetMail(user.email);
    const second = await resetMail(user.email);
    expect(second.token).not.toBe(first.token);
    expectError(await reset(first.token!), 400, 'invalid_link_token'); // superseded by the second

    expect((await reset(second.token!)).status).toBe(204);
    expectError(await reset(second.token!, 'yet another passphrase 7'), 400, 'invalid_link_token'); // used

    const third = await resetMail(user.email);
    await expireLinks(t.connection, user.id);
    expectError(await reset(third.token!), 400, 'invalid_link_token'); // expired

    for (const token of ['', 'gh_lt_short', `gh_lt_${'A'.repeat(43)}`, third.token!.toUpperCase()]) {
      expectError(await reset(token), 400, 'invalid_link_token');
    }
    expectError(
      await http.post('/auth/password/reset', { body: { newPassword: NEW_PASSWORD } }),
      400,
      'validation_failed',
    );
    // A link of another kind is no reset link.
    expectError(
      await http.post('/auth/email/verify/confirm', { body: { token: third.token } }),
      400,
      'invalid_link_token',
    );
    // The password is still the one the second link set.
    await http.signin(user.email, NEW_PASSWORD);
  });

  it('applies the password policy, and a refused password leaves the link working', async () => {
    const user = await http.signup();
    const mail = await resetMail(user.email);
    const weak = await reset(mail.token!, 'short');
    expectError(weak, 400, 'validation_failed');
    expect(weak.body.errors).toEqual([{ field: 'newPassword', message: expect.any(String) }]);
    expectError(await reset(mail.token!, 'password'), 400, 'validation_failed'); // a common one
    expect((await reset(mail.token!)).status).toBe(204);
  });

  it('lets exactly one of 10 concurrent resets with one link succeed', async () => {
    const user = await http.signup();
    const mail = await resetMail(user.email);
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) => reset(mail.token!, `concurrent passphrase number ${i}`)),
    );
    const statuses = replies.map((reply) => reply.status).sort();
    expect(statuses).toEqual([204, ...Array(9).fill(400)]);
    for (const reply of replies.filter((r) => r.status === 400))
      expectError(reply, 400, 'invalid_link_token');
    const winner = replies.findIndex((reply) => reply.status === 204);
    await http.signin(user.email, `concurrent passphrase number ${winner}`);
    const audit = await http.get(`/audit-events?userId=${user.id}&type=password_reset`, {
      token: (await signinRoot(http)).accessToken,
    });
    expect(audit.body).toHaveLength(1);
  });

  it('revokes every other outstanding link of the user (verification, email change)', async () => {
    const user = await http.signup();
    expect((await http.post('/auth/email/verify', { token: user.accessToken })).status).toBe(202);
    const verification = await smtp.waitForMailTo(user.email, 'Verify');
    const newEmail = uniqueEmail('moving');
    const change = await http.post('/auth/email', {
      token: user.accessToken,
      body: { newEmail, currentPassword: GOOD_PASSWORD },
    });
    expect(change.status, change.text).toBe(202);
    const changeMail = await smtp.waitForMailTo(newEmail, 'Confirm');

    const mail = await resetMail(user.email);
    expect((await reset(mail.token!)).status).toBe(204);

    expectError(
      await http.post('/auth/email/verify/confirm', { body: { token: verification.token } }),
      400,
      'invalid_link_token',
    );
    expectError(
      await http.post('/auth/email/confirm', { body: { token: changeMail.token } }),
      400,
      'invalid_link_token',
    );
  });

  it('answers forgot identically for an unknown, a disabled and an existing account, by the same work; mails only the last', async () => {
    const root = await signinRoot(http);
    const existing = await http.signup();
    const disabled = await http.signup();
    expect(
      (await http.patch(`/users/${disabled.id}`, { token: root.accessToken, body: { disabled: true } }))
        .status,
    ).toBe(200);
    const unknown = uniqueEmail('nobody');

    // The same work, checked call by call; the time a client sees is measured by the bench (forgot-timing).
    const lookups = vi.spyOn(t.app.get(UsersRepository), 'findByEmail');
    const enqueued = vi.spyOn(t.app.get(MailOutbox), 'enqueue');
    const audited = vi.spyOn(t.app.get(AuditService), 'record');
    const replies: Reply[] = [];
    const work: unknown[] = [];
    // The request's own calls (on the database), not the mail worker's (on its transaction).
    const database = t.app.get<Database>(DATABASE);
    for (const email of [unknown, disabled.email, existing.email]) {
      lookups.mockClear();
      enqueued.mockClear();
      audited.mockClear();
      replies.push(await http.post('/auth/password/forgot', { body: { email } }));
      // The same calls, in the same order, with the same shape of arguments.
      work.push({
        lookups: lookups.mock.calls.filter(([executor]) => executor === database).length,
        enqueued: enqueued.mock.calls.map(([, request]) => ({ ...request, to: '<address>' })),
        audited: audited.mock.calls.map(([, event]) => ({
          type: event.type,
          actorId: event.actorId,
          detail: Object.keys(event.detail ?? {}),
        })),
      });
    }
    vi.restoreAllMocks();
    expect(work[1]).toEqual(work[0]);
    expect(work[2]).toEqual(work[0]);
    expect(work[0]).toEqual({
      lookups: 1,
      enqueued: [{ kind: 'password_reset', to: '<address>', userId: null, limited: true }],
      audited: [{ type: 'password_reset_requested', actorId: null, detail: ['email', 'mail'] }],
    });

    const comparable = (reply: Reply) => {
      const { 'x-request-id': _id, date: _date, ...headers } = reply.headers;
      return { status: reply.status, body: reply.text, headers };
    };
    expect(comparable(replies[0]!)).toEqual(comparable(replies[2]!));
    expect(comparable(replies[1]!)).toEqual(comparable(replies[2]!));
    expect(replies[2]!.status).toBe(202);

    // Only the enabled account gets a mail; the other two requests end cancelled.
    await smtp.waitForMailTo(existing.email, 'Reset');
    const rows = await outboxSettled(t.connection);
    const statusOf = (email: string) =>
      rows.filter((row) => row.recipient === email && row.kind === 'password_reset').map((row) => row.status);
    expect(statusOf(existing.email)).toEqual(['sent']);
    expect(statusOf(disabled.email)).toEqual(['cancelled']);
    expect(statusOf(unknown)).toEqual(['cancelled']);
    expect(smtp.mailTo(unknown)).toEqual([]);
    expect(smtp.mailTo(disabled.email)).toEqual([]);
  });

  it('builds links from PUBLIC_URL alone, whatever Host or X-Forwarded-Host say', async () => {
    const user = await http.signup();
    const reply = await http.post('/auth/password/forgot', {
      body: { email: user.email },
      headers: {
        host: 'evil.example.com',
        'x-forwarded-host': 'evil.example.com',
        'x-forwarded-proto': 'http',
        forwarded: 'host=evil.example.com;proto=http',
      },
    });
    expect(reply.status).toBe(202);
    const mail = await smtp.waitForMailTo(user.email, 'Reset');
    expect(mail.link!.startsWith(`${PUBLIC_URL}/console/reset-password#token=`)).toBe(true);
    expect(mail.raw).not.toContain('evil.example.com');
  });

  it('validates the body of forgot', async () => {
    expectError(
      await http.post('/auth/password/forgot', { body: { email: 'not an email' } }),
      400,
      'validation_failed',
    );
    expectError(
      await http.post('/auth/password/forgot', { body: { email: uniqueEmail(), role: 'admin' } }),
      400,
      'validation_failed',
    );
  });

  it('writes no link token into any log line', async () => {
    await outboxSettled(t.connection);
    const logs = t.rawLogs();
    const tokens = smtp.received.map((mail) => mail.token).filter((token) => token !== undefined);
    expect(tokens.length).toBeGreaterThan(5);
    for (const token of tokens) expect(logs).not.toContain(token);
    expect(logs).not.toMatch(/gh_lt_/);
    expect(logs).not.toContain('#token=');
    // The outbox holds no link either.
    expect(JSON.stringify(await outbox(t.connection))).not.toMatch(/gh_lt_/);
  });
});

describe('links behind a trusted proxy (TRUST_PROXY): forwarded headers never reach a link', () => {
  const smtp = useSmtpServer();
  // Injected requests come from 127.0.0.1: trusted, so Fastify believes their X-Forwarded-* headers.
  const { http } = useTestApp(() => mailEnv(smtp, { TRUST_PROXY: '127.0.0.1' }));
  const EVIL = 'evil.example.com';
  const forged = {
    host: EVIL,
    'x-forwarded-host': EVIL,
    'x-forwarded-proto': 'http',
    'x-forwarded-for': '203.0.113.9',
    forwarded: `host=${EVIL};proto=http`,
  };

  it('verification, reset and email-change links all start with PUBLIC_URL', async () => {
    const email = uniqueEmail('proxied');
    const verification = smtp.nextMailTo(email, 'Verify your email address');
    const user = await http.signup(email, GOOD_PASSWORD, forged);
    const reset = smtp.nextMailTo(email, 'Reset your password');
    expect((await http.post('/auth/password/forgot', { body: { email }, headers: forged })).status).toBe(202);
    const newEmail = uniqueEmail('proxied-new');
    const change = smtp.nextMailTo(newEmail, 'Confirm your new email address');
    const notice = smtp.nextMailTo(email, 'is about to change');
    const requested = await http.post('/auth/email', {
      token: user.accessToken,
      body: { newEmail, currentPassword: GOOD_PASSWORD },
      headers: forged,
    });
    expect(requested.status, requested.text).toBe(202);

    const pages = ['verify-email', 'reset-password', 'confirm-email'];
    const mails = await Promise.all([verification, reset, change]);
    mails.forEach((mail, i) => {
      expect(mail.link).toBe(`${PUBLIC_URL}/console/${pages[i]}#token=${mail.token}`);
      expect(mail.raw).not.toContain('evil');
    });
    expect((await notice).raw).not.toContain('evil');
  });
});
