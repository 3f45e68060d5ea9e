import { describe, expect, it } from 'vitest';
import { ROOT_EMAIL, ROOT_PASSWORD, signinRoot } from '../support/admin.js';
import { expectError, GOOD_PASSWORD, uniqueEmail } from '../support/http.js';
import { expireLinks, mailEnv, PUBLIC_URL } from '../support/mail.js';
import { useSmtpServer } from '../support/smtp-server.js';
import { useTestApp } from '../support/test-app.js';

const CONFIRM = 'Confirm your new email address';
const NOTICE = 'is about to change';

describe('email change: POST /auth/email and /auth/email/confirm', () => {
  const smtp = useSmtpServer();
  const { t, http } = useTestApp(() =>
    mailEnv(smtp, { EMAIL_VERIFICATION: 'off', ADMIN_EMAIL: ROOT_EMAIL, ADMIN_PASSWORD: ROOT_PASSWORD }),
  );

  const request = (accessToken: string, newEmail: string, currentPassword = GOOD_PASSWORD) =>
    http.post('/auth/email', { token: accessToken, body: { newEmail, currentPassword } });
  const confirm = (token: string | undefined) => http.post('/auth/email/confirm', { body: { token } });

  /** Asks to move `user` to a new address; returns it and the two mails. */
  async function requestChange(user: { email: string; accessToken: string }, newEmail = uniqueEmail('new')) {
    const link = smtp.nextMailTo(newEmail, CONFIRM);
    const notice = smtp.nextMailTo(user.email, NOTICE);
    const reply = await request(user.accessToken, newEmail);
    expect(reply.status, reply.text).toBe(202);
    return { newEmail, link: await link, notice: await notice };
  }

  it('mails a link to the new address and a notice to the old one; the link changes and verifies the email and ends every session', async () => {
    const user = await http.signup();
    const second = await http.signin(user.email);
    const { newEmail, link, notice } = await requestChange(user);
    expect(link.link).toBe(`${PUBLIC_URL}/console/confirm-email#token=${link.token}`);
    expect(notice.token).toBeUndefined();
    expect(notice.text).not.toContain(newEmail); // nothing the requester typed goes to the old address
    // Nothing changed yet.
    expect((await http.get('/users/me', { token: user.accessToken })).body.email).toBe(user.email);

    const reply = await confirm(link.token);
    expect(reply.status, reply.text).toBe(204);
    // The confirming request has no session: every session of the user ends.
    for (const session of [user, second]) {
      expectError(await http.get('/users/me', { token: session.accessToken }), 401, 'session_revoked');
    }
    expectError(
      await http.post('/auth/signin', { body: { email: user.email, password: GOOD_PASSWORD } }),
      401,
      'invalid_credentials',
    );
    const moved = await http.signin(newEmail);
    expect(moved.id).toBe(user.id);
    const me = await http.get('/users/me', { token: moved.accessToken });
    expect(me.body).toMatchObject({ email: newEmail, emailVerified: true });
    expectError(await confirm(link.token), 400, 'invalid_link_token'); // used

    const root = await signinRoot(http);
    const events = await http.get(`/audit-events?userId=${user.id}`, { token: root.accessToken });
    const changed = events.body.find((event: { type: string }) => event.type === 'email_changed');
    expect(changed.detail).toMatchObject({ from: user.email, to: newEmail, revokedSessions: 2 });
    expect(events.body.some((event: { type: string }) => event.type === 'email_change_requested')).toBe(true);
  });

  it('refuses a wrong password (401), a taken address (409), the current address and bad input (400)', async () => {
    const user = await http.signup();
    const other = await http.signup();
    expectError(
      await request(user.accessToken, uniqueEmail(), 'not my password'),
      401,
      'invalid_credentials',
    );
    expectError(await request(user.accessToken, other.email), 409, 'email_taken');
    expectError(await request(user.accessToken, other.email.toUpperCase()), 409, 'email_taken');
    expectError(await request(user.accessToken, user.email.toUpperCase()), 400, 'validation_failed');
    expectError(await request(user.accessToken, 'not an email'), 400, 'validation_failed');
    expectError(
      await http.post('/auth/email', { token: user.accessToken, body: { newEmail: uniqueEmail() } }),
      400,
      'validation_failed',
    );
    expectError(
      await http.post('/auth/email', { body: { newEmail: uniqueEmail(), currentPassword: GOOD_PASSWORD } }),
      401,
      'missing_token',
    );
  });

  it('checks the address again at confirmation: 409 if it was taken meanwhile, and the link still works later', async () => {
    const user = await http.signup();
    const { newEmail, link } = await requestChange(user);
    const squatter = await http.signup(newEmail);
    expectError(await confirm(link.token), 409, 'email_taken');
    // Nothing changed, no session ended.
    expect((await http.get('/users/me', { token: user.accessToken })).body.email).toBe(user.email);
    const root = await signinRoot(http);
    expect((await http.delete(`/users/${squatter.id}`, { token: root.accessToken })).status).toBe(204);
    expect((await confirm(link.token)).status).toBe(204);
  });

  it('refuses a superseded, an expired and a malformed link; one of 10 concurrent uses wins', async () => {
    const user = await http.signup();
    const first = await requestChange(user);
    const second = await requestChange(user);
    expectError(await confirm(first.link.token), 400, 'invalid_link_token');
    await expireLinks(t.connection, user.id);
    expectError(await confirm(second.link.token), 400, 'invalid_link_token');
    expectError(await confirm('gh_lt_'), 400, 'invalid_link_token');

    const third = await requestChange(user);
    const replies = await Promise.all(Array.from({ length: 10 }, () => confirm(third.link.token)));
    expect(replies.map((reply) => reply.status).sort()).toEqual([204, ...Array(9).fill(400)]);
    await http.signin(third.newEmail);
  });

  it('writes no link token into any log line', () => {
    const tokens = smtp.received.flatMap((mail) => (mail.token ? [mail.token] : []));
    expect(tokens.length).toBeGreaterThan(3);
    const logs = t.rawLogs();
    for (const token of tokens) expect(logs).not.toContain(token);
    expect(logs).not.toMatch(/gh_lt_|#token=/);
  });

  it('ends the links sent to the old address (a pending reset) when the email changes', async () => {
    const user = await http.signup();
    const resetMail = smtp.nextMailTo(user.email, 'Reset your password');
    expect((await http.post('/auth/password/forgot', { body: { email: user.email } })).status).toBe(202);
    const reset = await resetMail;
    const { link } = await requestChange(user);
    expect((await confirm(link.token)).status).toBe(204);
    expectError(
      await http.post('/auth/password/reset', {
        body: { token: reset.token, newPassword: 'taken over 12345' },
      }),
      400,
      'invalid_link_token',
    );
  });
});
