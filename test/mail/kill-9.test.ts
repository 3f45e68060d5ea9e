import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { PUBLIC_URL } from '../support/mail.js';
import { until } from '../support/load.js';
import { buildService, freePort, killAll, ServiceProcess } from '../support/process.js';
import { createPostgresDatabase } from '../support/services.js';
import { startSilentServer, TestSmtpServer } from '../support/smtp-server.js';
import { TEST_KEY_SECRET } from '../support/test-app.js';
import { GOOD_PASSWORD, uniqueEmail } from '../support/http.js';

const json = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/**
 * The real service (`node dist/bundle/main.js`) killed with SIGKILL after it
 * committed a reset request, while the mail had not gone out: the restarted
 * service sends it, once.
 */
describe('kill -9 of the service between the commit and the send', { timeout: 180_000 }, () => {
  /** Each test's own database: a service left running by one test must not deliver the next one's mail. */
  let database: { url: string; drop: () => Promise<void> };
  const cleanups: (() => Promise<void>)[] = [];
  const processes: ServiceProcess[] = [];

  beforeAll(() => buildService());
  beforeEach(async () => {
    await killAll();
    database = await createPostgresDatabase({
      serverUrl: inject('testServerUrl'),
      template: inject('templateDatabase'),
    });
    cleanups.push(database.drop);
  });
  afterAll(async () => {
    await killAll();
    for (const cleanup of cleanups) await cleanup().catch(() => {});
  });

  async function start(smtpUrl: string): Promise<ServiceProcess> {
    const service = new ServiceProcess(await freePort(), {
      DATABASE_URL: database.url,
      KEY_ENCRYPTION_SECRET: TEST_KEY_SECRET,
      LOG_LEVEL: 'info',
      PUBLIC_URL,
      EMAIL_VERIFICATION: 'off',
      RATE_LIMIT_PER_MINUTE: '100000',
      SMTP_URL: smtpUrl,
      MAIL_RETRY_DELAY: '1',
      // A claim lasts twice this: the restarted service may send a claimed mail 6 s after the kill.
      MAIL_SEND_TIMEOUT: '3',
    });
    processes.push(service);
    await service.waitFor();
    return service;
  }

  async function signupAndForget(service: ServiceProcess): Promise<string> {
    const email = uniqueEmail('killed');
    expect((await service.fetch('/auth/signup', json({ email, password: GOOD_PASSWORD }))).status).toBe(201);
    expect((await service.fetch('/auth/password/forgot', json({ email }))).status).toBe(202);
    return email;
  }

  /** The restarted service sent the one mail; its link works there. */
  async function expectSentOnceAfterRestart(smtp: TestSmtpServer, service: ServiceProcess, email: string) {
    const mail = await smtp.waitForMailTo(email, 'Reset your password', 60_000);
    const newPassword = 'after the crash 12345';
    const reset = await service.fetch('/auth/password/reset', json({ token: mail.token, newPassword }));
    expect(reset.status).toBe(204);
    expect((await service.fetch('/auth/signin', json({ email, password: newPassword }))).status).toBe(200);
    // No second copy: wait until the outbox says sent, then count.
    await until(
      async () => {
        const metrics = await (await service.fetch('/metrics')).text();
        return /^gatehouse_mail_outbox_depth 0$/m.test(metrics);
      },
      30_000,
      'the outbox to drain',
    );
    expect(
      smtp.mailTo(email).filter((received) => received.subject.includes('Reset your password')),
    ).toHaveLength(1);
  }

  it('sends a mail claimed by a worker stuck in the send once its claim expires', async () => {
    const silent = await startSilentServer();
    cleanups.push(silent.close);
    const first = await start(`smtp://127.0.0.1:${silent.port}`);
    const email = await signupAndForget(first);
    await silent.connected; // the worker has claimed the mail and waits for the server's greeting
    first.child.kill('SIGKILL');
    expect((await first.waitForExit(10_000)).signal).toBe('SIGKILL');

    const smtp = await TestSmtpServer.start();
    cleanups.push(() => smtp.stop());
    const second = await start(smtp.url);
    await expectSentOnceAfterRestart(smtp, second, email);
  });

  it('sends a mail the SMTP server was refusing when the service was killed', async () => {
    const smtp = await TestSmtpServer.start();
    cleanups.push(() => smtp.stop());
    smtp.refusing = 'Try again later';
    const first = await start(smtp.url);
    const email = await signupAndForget(first);
    // Refused at least once: the mail waits in the outbox for its retry.
    await until(() => smtp.connections >= 1, 30_000, 'a delivery attempt');
    first.child.kill('SIGKILL');
    await first.waitForExit(10_000);

    smtp.refusing = undefined;
    const second = await start(smtp.url);
    await expectSentOnceAfterRestart(smtp, second, email);
  });

  it('logged no link token', () => {
    for (const service of processes) {
      expect(service.stdout + service.stderr).not.toMatch(/gh_lt_/);
    }
  });
});
