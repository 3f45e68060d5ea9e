import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { uniqueEmail } from '../support/http.js';
import { mailEnv, outbox, outboxSettled } from '../support/mail.js';
import { buildService } from '../support/process.js';
import { TestSmtpServer } from '../support/smtp-server.js';
import { TEST_KEY_SECRET, useTestApp } from '../support/test-app.js';

/**
 * `mail failed` and `mail retry` from the command line, against the database
 * a running instance uses: failed mail is listed without its content, and a
 * retried mail is delivered by the running instance.
 */
describe('mail failed / mail retry (command line)', () => {
  let smtp: TestSmtpServer;
  let env: Record<string, string>;
  beforeAll(async () => {
    buildService();
    smtp = await TestSmtpServer.start();
    smtp.refusing = 'Mailbox busy, try later';
  });
  afterAll(() => smtp.stop());
  const { t, http } = useTestApp(() => mailEnv(smtp, { EMAIL_VERIFICATION: 'off', MAIL_MAX_ATTEMPTS: '1' }));
  beforeAll(() => {
    env = { DATABASE_URL: (t.connection as { url?: string }).url!, KEY_ENCRYPTION_SECRET: TEST_KEY_SECRET };
  });

  const cli = (args: string[]) => runCli(args, env);

  /** Three users whose reset mail failed (the server refused each once, the only attempt). */
  async function failedResets(): Promise<string[]> {
    const emails = [uniqueEmail('failed'), uniqueEmail('failed'), uniqueEmail('failed')];
    for (const email of emails) {
      await http.signup(email);
      expect((await http.post('/auth/password/forgot', { body: { email } })).status).toBe(202);
    }
    const rows = await outboxSettled(t.connection);
    expect(rows.filter((row) => emails.includes(row.recipient)).map((row) => row.status)).toEqual([
      'failed',
      'failed',
      'failed',
    ]);
    return emails;
  }

  it('lists failed mail without any link or token, and retries one, then all', async () => {
    const emails = await failedResets();
    const rows = (await outbox(t.connection)).filter((row) => emails.includes(row.recipient));

    const listed = await cli(['mail', 'failed']);
    expect(listed.code, listed.stderr).toBe(0);
    for (const row of rows) {
      expect(listed.stdout).toMatch(
        new RegExp(`${row.id}\\s+password_reset\\s+${row.recipient.replace(/\./g, '\\.')}\\s+1 attempts`),
      );
    }
    expect(listed.stdout).toContain('451');
    expect(listed.stdout).not.toMatch(/gh_lt_|token|https?:\/\//);

    smtp.refusing = undefined;
    const one = await cli(['mail', 'retry', rows[0]!.id]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toContain('Queued again: 1 mail.');
    // The running instance's worker sends it; it carries a working link.
    const mail = await smtp.waitForMailTo(emails[0]!, 'Reset your password');
    expect(
      (
        await http.post('/auth/password/reset', {
          body: { token: mail.token, newPassword: 'retried and reset 1' },
        })
      ).status,
    ).toBe(204);

    const all = await cli(['mail', 'retry', '--all']);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toContain('Queued again: 2 mails.');
    await smtp.waitForMailTo(emails[1]!, 'Reset your password');
    await smtp.waitForMailTo(emails[2]!, 'Reset your password');
    await outboxSettled(t.connection);
    const after = await cli(['mail', 'failed']);
    expect(after.stdout).toBe('No failed mail.\n');
    for (const email of emails)
      expect(smtp.mailTo(email).filter((m) => m.subject.includes('Reset'))).toHaveLength(1);
  });

  it('refuses a retry without an id or --all, with both, or of an unknown or malformed id', async () => {
    for (const args of [
      ['mail', 'retry'],
      ['mail', 'retry', '0192f000-0000-7000-8000-000000000000', '--all'],
      ['mail', 'retry', '0192f000-0000-7000-8000-000000000000'],
      ['mail', 'retry', 'not-an-id'],
    ]) {
      const run = await cli(args);
      expect(run.code, args.join(' ')).toBe(1);
      expect(run.stderr).toMatch(/^gatehouse: /);
    }
  });
});
