import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres } from '../../src/database/database.connection.js';
import type { DatabaseConnection } from '../../src/database/database.types.js';
import { Http, uniqueEmail } from '../support/http.js';
import { until } from '../support/load.js';
import { mailEnv, outbox, outboxSettled, PUBLIC_URL } from '../support/mail.js';
import {
  startSilentServer,
  TestSmtpServer,
  type TestSmtpOptions,
  useSmtpServer,
} from '../support/smtp-server.js';
import { createTestApp, freshDatabase, type TestApp, useTestApp } from '../support/test-app.js';
import { NO_THROTTLE } from '../support/tokens.js';

/** A metric's value in the Prometheus text of /metrics. */
async function metric(http: Http, name: string): Promise<number> {
  const text = (await http.get('/metrics')).text;
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.split(' ')[1]);
}

/** Sends a reset request for each address; every answer must be 202. */
async function forgot(http: Http, emails: string[]): Promise<void> {
  const replies = await Promise.all(
    emails.map((email) => http.post('/auth/password/forgot', { body: { email } })),
  );
  for (const reply of replies) expect(reply.status, reply.text).toBe(202);
}

/** Signs up `n` users (no verification mail) and returns their addresses. */
async function signups(http: Http, n: number): Promise<string[]> {
  const emails = Array.from({ length: n }, () => uniqueEmail('outage'));
  for (const email of emails) await http.signup(email);
  return emails;
}

/** Each address got exactly one mail, with a link, and no one else got any. */
function expectOneMailEach(smtp: TestSmtpServer, emails: string[]): void {
  for (const email of emails) {
    const mails = smtp.mailTo(email);
    expect(mails, email).toHaveLength(1);
    expect(mails[0]!.token).toBeDefined();
  }
  expect(smtp.received).toHaveLength(emails.length);
}

const TRANSPORTS: { name: string; options: TestSmtpOptions }[] = [
  { name: 'plain SMTP without AUTH', options: {} },
  { name: 'plain SMTP with AUTH', options: { auth: { user: 'gatehouse', pass: 's3cret pass' } } },
  {
    name: 'STARTTLS with AUTH',
    options: { tls: 'starttls', auth: { user: 'gatehouse', pass: 's3cret pass' } },
  },
  { name: 'STARTTLS without AUTH', options: { tls: 'starttls' } },
];

describe.each(TRANSPORTS)('delivery over $name', ({ name, options }) => {
  const smtp = useSmtpServer(options);
  const { t, http } = useTestApp(() => mailEnv(smtp));

  it('delivers the signup verification mail, once, as the server requires', async () => {
    const email = uniqueEmail('transport');
    const next = smtp.nextMailTo(email, 'Verify');
    const started = performance.now();
    await http.signup(email);
    const mail = await next;
    console.log(
      `${name}: signup answered and its mail received after ${Math.round(performance.now() - started)} ms`,
    );
    expect(mail.secure).toBe(options.tls === 'starttls');
    expect(mail.user).toBe(options.auth?.user);
    expect(mail.link?.startsWith(`${PUBLIC_URL}/console/verify-email#token=`)).toBe(true);
    expect(await outboxSettled(t.connection)).toMatchObject([{ status: 'sent', attempts: 1 }]);
    expect(smtp.mailTo(email)).toHaveLength(1);
    expect(await metric(http, 'gatehouse_mail_sent_total')).toBe(1);
  });
});

describe('the templates', () => {
  const smtp = useSmtpServer();
  const { http } = useTestApp(() => mailEnv(smtp, { MAIL_FROM: 'Acme Accounts <no-reply@acme.test>' }));

  it('have a text and an HTML part: product, link, expiry, guidance; the address escaped in HTML', async () => {
    const email = `o'neil.${Date.now()}@example.com`;
    const next = smtp.nextMailTo(email, 'Verify');
    await http.signup(email);
    const mail = await next;
    expect(mail.from).toBe('no-reply@acme.test');
    expect(mail.raw).toMatch(/^From: Acme Accounts <no-reply@acme\.test>/m);
    expect(mail.raw).toMatch(/^Auto-Submitted: auto-generated/m);
    expect(mail.subject).toBe('Verify your email address for auth.example.test');
    for (const part of [mail.text, mail.html]) {
      expect(part).toContain('Acme Accounts');
      expect(part).toContain(`${PUBLIC_URL}/console/verify-email#token=${mail.token}`);
      expect(part).toContain('expires in 24 hours');
    }
    expect(mail.text).toContain(email);
    expect(mail.text).toContain("If this wasn't you");
    expect(mail.html).toContain(email.replace("'", '&#39;'));
    expect(mail.html).not.toContain("o'neil");
    expect(mail.html).toContain('If this wasn&#39;t you');
  });
});

describe('a mail the SMTP server keeps refusing', () => {
  const smtp = useSmtpServer({ auth: { user: 'gatehouse', pass: 'right' } });
  // The wrong SMTP password: every attempt fails.
  const { t, http } = useTestApp(() => ({
    ...mailEnv(smtp),
    SMTP_URL: `smtp://gatehouse:wrong@127.0.0.1:${smtp.port}`,
    MAIL_MAX_ATTEMPTS: '2',
  }));

  it('is retried, then marked failed: one warning line without the link, and the metrics', async () => {
    const email = uniqueEmail('refused');
    await http.signup(email);
    const [row] = await outboxSettled(t.connection);
    expect(row).toMatchObject({ status: 'failed', attempts: 2, recipient: email });
    expect(row!.last_error).toMatch(/535|auth/i);
    expect(smtp.received).toEqual([]);
    const warnings = t.logs.filter((line) => line.level === 40 && String(line.msg).startsWith('mail '));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toContain(`mail ${row!.id} (email_verification) failed after 2 attempts`);
    expect(await metric(http, 'gatehouse_mail_failed_total')).toBe(1);
    expect(await metric(http, 'gatehouse_mail_retried_total')).toBe(1);
    expect(await metric(http, 'gatehouse_mail_outbox_depth')).toBe(0);
    // The credentials in SMTP_URL appear nowhere in the log.
    expect(t.rawLogs()).not.toContain('wrong@');
  });
});

describe('the SMTP server down while users ask for resets', () => {
  const smtp = useSmtpServer();
  const { t, http } = useTestApp(() => mailEnv(smtp, { EMAIL_VERIFICATION: 'off' }));

  it('answers every request 202 meanwhile, and delivers every mail exactly once when it is back', async () => {
    const emails = await signups(http, 10);
    await smtp.stop(); // connections are refused from now on
    await forgot(http, emails);
    // Delivery fails and is retried: the outbox holds the mail meanwhile.
    await until(
      async () => (await metric(http, 'gatehouse_mail_retried_total')) >= emails.length,
      60_000,
      'every mail tried and failed at least once',
    );
    expect(await metric(http, 'gatehouse_mail_outbox_depth')).toBe(emails.length);
    expect(await metric(http, 'gatehouse_mail_sent_total')).toBe(0);

    await smtp.listen();
    const rows = await outboxSettled(t.connection);
    expect(rows.map((row) => row.status)).toEqual(Array(emails.length).fill('sent'));
    expectOneMailEach(smtp, emails);
    expect(await metric(http, 'gatehouse_mail_sent_total')).toBe(emails.length);
  });
});

describe('two instances on one database, and an SMTP server that hangs, then is replaced', () => {
  let a: TestApp;
  let b: TestApp;
  let shared: DatabaseConnection & { url: string };
  let silent: Awaited<ReturnType<typeof startSilentServer>>;
  let smtp: TestSmtpServer | undefined;
  const SEND_TIMEOUT_SECONDS = 20;
  beforeAll(async () => {
    silent = await startSilentServer();
    const env = {
      ...NO_THROTTLE,
      PUBLIC_URL,
      EMAIL_VERIFICATION: 'off',
      SMTP_URL: `smtp://127.0.0.1:${silent.port}`,
      MAIL_RETRY_DELAY: '1',
      MAIL_SEND_TIMEOUT: String(SEND_TIMEOUT_SECONDS),
    };
    shared = await freshDatabase();
    a = await createTestApp(env, { connection: shared });
    b = await createTestApp(env, { connection: await openPostgres(shared.url, 4) });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close(); // drops the database
    await silent?.close();
    await smtp?.stop();
  });

  it('answers every request without waiting for SMTP, and each mail arrives exactly once', async () => {
    const httpA = new Http(a.app);
    const httpB = new Http(b.app);
    const emails = await signups(httpA, 12);
    // Half the requests to each instance, all at once, while the SMTP server accepts and says nothing.
    const started = performance.now();
    await Promise.all([forgot(httpA, emails.slice(0, 6)), forgot(httpB, emails.slice(6))]);
    const answeredMs = performance.now() - started;
    await silent.connected; // a worker is stuck in a send: requests did not wait for it
    // A request that waited for SMTP would have taken MAIL_SEND_TIMEOUT at least.
    expect(answeredMs).toBeLessThan(SEND_TIMEOUT_SECONDS * 1000);
    expect((await outbox(shared)).filter((row) => row.status === 'sent')).toEqual([]);

    // The silent server goes (its connections cut: those sends fail and are retried); a real one
    // takes its port.
    await silent.close();
    smtp = await TestSmtpServer.start({ port: silent.port });
    const rows = await outboxSettled(shared, 90_000);
    expect(rows.map((row) => row.status)).toEqual(Array(emails.length).fill('sent'));
    expectOneMailEach(smtp, emails);
    // Both instances' workers delivered mail: the outbox is shared, not partitioned.
    const sentBy = await Promise.all(
      [a, b].map((app) => metric(new Http(app.app), 'gatehouse_mail_sent_total')),
    );
    expect(sentBy[0]! + sentBy[1]!).toBe(emails.length);
  });
});

describe('without SMTP_URL', () => {
  const { t, http } = useTestApp({ ...NO_THROTTLE, PUBLIC_URL });

  it('writes each mail as an .eml file into DATA_DIR/mail, readable by the service alone; the log says so without the link', async () => {
    const email = uniqueEmail('eml');
    await http.signup(email);
    const [row] = await outboxSettled(t.connection);
    expect(row).toMatchObject({ status: 'sent', recipient: email });
    const dir = join(t.config.database.dataDir, 'mail');
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    const files = await readdir(dir);
    expect(files).toEqual([`${row!.id}.eml`]);
    const file = join(dir, files[0]!);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const parsed = await simpleParser(await readFile(file));
    expect(parsed.subject).toBe('Verify your email address for auth.example.test');
    const token = /#token=(gh_lt_[A-Za-z0-9_-]{43})/.exec(parsed.text ?? '')?.[1];
    expect(token).toBeDefined();
    expect(typeof parsed.html).toBe('string');

    const logs = t.logs;
    expect(logs.some((line) => String(line.msg).includes('no SMTP_URL: mail is written as .eml files'))).toBe(
      true,
    );
    expect(
      logs.some(
        (line) => line.msg === `mail ${row!.id} (email_verification) written to ${file} (no SMTP_URL)`,
      ),
    ).toBe(true);
    expect(t.rawLogs()).not.toContain(token!);

    // The link in the file works.
    expect((await http.post('/auth/email/verify/confirm', { body: { token } })).status).toBe(204);
  });
});
