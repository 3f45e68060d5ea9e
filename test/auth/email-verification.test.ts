import { describe, expect, it } from 'vitest';
import { ROOT_EMAIL, ROOT_PASSWORD, signinRoot } from '../support/admin.js';
import { expectError, GOOD_PASSWORD, uniqueEmail } from '../support/http.js';
import { emailVerifiedAt, expireLinks, mailEnv, outbox, outboxSettled, PUBLIC_URL } from '../support/mail.js';
import { useSmtpServer } from '../support/smtp-server.js';
import { useTestApp } from '../support/test-app.js';

const VERIFY = 'Verify your email address';

describe('email verification (EMAIL_VERIFICATION=optional, the default)', () => {
  const smtp = useSmtpServer();
  const { t, http } = useTestApp(() =>
    mailEnv(smtp, { ADMIN_EMAIL: ROOT_EMAIL, ADMIN_PASSWORD: ROOT_PASSWORD, MAIL_PER_ADDRESS_PER_HOUR: '3' }),
  );

  const confirm = (token: string | undefined) => http.post('/auth/email/verify/confirm', { body: { token } });

  /** Signs up and returns the user and the verification mail signup sent. */
  async function signup() {
    const email = uniqueEmail('verify');
    const next = smtp.nextMailTo(email, VERIFY);
    const user = await http.signup(email);
    return { user, mail: await next };
  }

  it('mails a link at signup; using it verifies the email (GET /users/me and the admin view say so)', async () => {
    const { user, mail } = await signup();
    expect(mail.link).toBe(`${PUBLIC_URL}/console/verify-email#token=${mail.token}`);
    expect((await http.get('/users/me', { token: user.accessToken })).body.emailVerified).toBe(false);

    const reply = await confirm(mail.token);
    expect(reply.status, reply.text).toBe(204);
    expect((await http.get('/users/me', { token: user.accessToken })).body.emailVerified).toBe(true);
    const root = await signinRoot(http);
    const admin = await http.get(`/users/${user.id}`, { token: root.accessToken });
    expect(admin.body.emailVerified).toBe(true);
    const listed = await http.get(`/users?email=${encodeURIComponent(user.email)}`, {
      token: root.accessToken,
    });
    expect(listed.body[0].emailVerified).toBe(true);

    // Sessions stay: verifying changes nothing else.
    expect((await http.get('/users/me', { token: user.accessToken })).status).toBe(200);
    // Used: the link works once.
    expectError(await confirm(mail.token), 400, 'invalid_link_token');
    // And a verified address needs no new link.
    expectError(await http.post('/auth/email/verify', { token: user.accessToken }), 409, 'already_verified');

    const types = await http.get(`/audit-events?userId=${user.id}`, { token: root.accessToken });
    expect(types.body.map((event: { type: string }) => event.type)).toEqual(
      expect.arrayContaining(['signup', 'email_verified']),
    );
    const signupEvent = types.body.find((event: { type: string }) => event.type === 'signup');
    expect(signupEvent.detail).toMatchObject({ verificationMail: 'queued' });
  });

  it('sends a new link on request; it supersedes the older one', async () => {
    const { user, mail: first } = await signup();
    const next = smtp.nextMailTo(user.email, VERIFY);
    const reply = await http.post('/auth/email/verify', { token: user.accessToken });
    expect(reply.status, reply.text).toBe(202);
    expect(reply.text).toBe('');
    const second = await next;
    expect(second.token).not.toBe(first.token);
    expectError(await confirm(first.token), 400, 'invalid_link_token');
    expect((await confirm(second.token)).status).toBe(204);
    expect(await emailVerifiedAt(t.connection, user.id)).not.toBeNull();
  });

  it('refuses an expired, a malformed and a missing token', async () => {
    const { user, mail } = await signup();
    await expireLinks(t.connection, user.id);
    expectError(await confirm(mail.token), 400, 'invalid_link_token');
    expectError(await confirm('nonsense'), 400, 'invalid_link_token');
    expectError(await confirm(`gh_lt_${'x'.repeat(43)}`), 400, 'invalid_link_token');
    expectError(await http.post('/auth/email/verify/confirm', { body: {} }), 400, 'validation_failed');
    expectError(
      await http.post('/auth/email/verify/confirm', { body: { token: 42 } }),
      400,
      'validation_failed',
    );
    expect(await emailVerifiedAt(t.connection, user.id)).toBeNull();
  });

  it('lets exactly one of 10 concurrent uses of one link succeed', async () => {
    const { user, mail } = await signup();
    const replies = await Promise.all(Array.from({ length: 10 }, () => confirm(mail.token)));
    expect(replies.map((reply) => reply.status).sort()).toEqual([204, ...Array(9).fill(400)]);
    const root = await signinRoot(http);
    const audit = await http.get(`/audit-events?userId=${user.id}&type=email_verified`, {
      token: root.accessToken,
    });
    expect(audit.body).toHaveLength(1);
  });

  it('sends at most MAIL_PER_ADDRESS_PER_HOUR mails to one address; beyond, 202 and nothing', async () => {
    const { user } = await signup(); // 1
    for (let i = 0; i < 4; i++) {
      expect((await http.post('/auth/email/verify', { token: user.accessToken })).status).toBe(202); // 2, 3, then none
    }
    const rows = (await outboxSettled(t.connection)).filter((row) => row.recipient === user.email);
    expect(rows).toHaveLength(3);
    expect(smtp.mailTo(user.email)).toHaveLength(3);
    // Forgot-password counts against the same address too, and still answers 202.
    expect((await http.post('/auth/password/forgot', { body: { email: user.email } })).status).toBe(202);
    expect((await outbox(t.connection)).filter((row) => row.recipient === user.email)).toHaveLength(3);
    const root = await signinRoot(http);
    const audit = await http.get(`/audit-events?userId=${user.id}&type=email_verification_sent`, {
      token: root.accessToken,
    });
    expect(audit.body.map((event: { detail: { mail: string } }) => event.detail.mail).sort()).toEqual([
      'limited',
      'limited',
      'queued',
      'queued',
    ]);
  });

  it('writes no link token into any log line', () => {
    const tokens = smtp.received.flatMap((mail) => (mail.token ? [mail.token] : []));
    expect(tokens.length).toBeGreaterThan(3);
    const logs = t.rawLogs();
    for (const token of tokens) expect(logs).not.toContain(token);
    expect(logs).not.toMatch(/gh_lt_|#token=/);
  });

  it('needs an access token to ask for a link', async () => {
    expectError(await http.post('/auth/email/verify'), 401, 'missing_token');
  });
});

describe('EMAIL_VERIFICATION=required', () => {
  const smtp = useSmtpServer();
  const { http } = useTestApp(() => mailEnv(smtp, { EMAIL_VERIFICATION: 'required' }));

  it('refuses the signin of an unverified account with the right password (403), and only that', async () => {
    const email = uniqueEmail('required');
    const next = smtp.nextMailTo(email, VERIFY);
    await http.signup(email);
    const mail = await next;
    expectError(
      await http.post('/auth/signin', { body: { email, password: GOOD_PASSWORD } }),
      403,
      'email_not_verified',
    );
    // A wrong password says nothing about verification.
    expectError(
      await http.post('/auth/signin', { body: { email, password: 'wrong password here' } }),
      401,
      'invalid_credentials',
    );
    expect((await http.post('/auth/email/verify/confirm', { body: { token: mail.token } })).status).toBe(204);
    await http.signin(email);
  });

  it('lets a password reset verify the address (the way in when the first link is lost)', async () => {
    const email = uniqueEmail('required-reset');
    await http.signup(email);
    const next = smtp.nextMailTo(email, 'Reset your password');
    expect((await http.post('/auth/password/forgot', { body: { email } })).status).toBe(202);
    const mail = await next;
    const newPassword = 'another good passphrase 9';
    expect(
      (await http.post('/auth/password/reset', { body: { token: mail.token, newPassword } })).status,
    ).toBe(204);
    await http.signin(email, newPassword);
  });
});

describe('EMAIL_VERIFICATION=off', () => {
  const smtp = useSmtpServer();
  const { t, http } = useTestApp(() => mailEnv(smtp, { EMAIL_VERIFICATION: 'off' }));

  it('sends no mail at signup; a link can still be asked for', async () => {
    const user = await http.signup();
    expect(await outbox(t.connection)).toEqual([]);
    await http.signin(user.email);
    const next = smtp.nextMailTo(user.email, VERIFY);
    expect((await http.post('/auth/email/verify', { token: user.accessToken })).status).toBe(202);
    expect((await next).token).toBeDefined();
  });
});
