import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTransport } from 'nodemailer';
import { parseConnectionUrl } from 'nodemailer/lib/shared';
import type { AppConfig } from '../config/app-config.js';
import type { OutgoingMail } from './mail.types.js';

/** Where a mail went, for the log line: never its content. */
export type Delivery = { via: 'smtp' } | { via: 'file'; path: string };

/** Sends one message; rejects when it was not accepted. */
export interface MailTransport {
  send(mail: OutgoingMail, meta: { id: string; signal: AbortSignal }): Promise<Delivery>;
  close(): void;
}

/** Headers of every mail: it is machine-sent, and answering it reaches no one. */
const HEADERS = { 'Auto-Submitted': 'auto-generated', 'X-Auto-Response-Suppress': 'All' };

/** SMTP_URL when set; otherwise .eml files in DATA_DIR/mail. */
export function createMailTransport(config: AppConfig['mail']): MailTransport {
  return config.smtpUrl ? smtpTransport(config, config.smtpUrl) : fileTransport(config);
}

/**
 * nodemailer over SMTP_URL (`smtp://` upgrades with STARTTLS when the server
 * offers it, `smtps://` is TLS from the start; nodemailer's own options may
 * follow as a query, e.g. `?requireTLS=true`). One connection per mail; every
 * stage bounded by MAIL_SEND_TIMEOUT, and the send aborted at it.
 */
function smtpTransport(config: AppConfig['mail'], url: string): MailTransport {
  const timeout = config.sendTimeout * 1000;
  const transport = createTransport(
    {
      ...parseConnectionUrl(url),
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
      dnsTimeout: timeout,
      // Whatever the URL's query says: nodemailer's log would hold the message, and so the link.
      logger: false,
      debug: false,
    },
    { from: config.from, headers: HEADERS },
  );
  return {
    send: async (mail, { signal }) => {
      await transport.sendMail({ ...mail, signal });
      return { via: 'smtp' };
    },
    close: () => transport.close(),
  };
}

/**
 * The zero-set-up default: each mail as an .eml file (open it with any mail
 * program) in DATA_DIR/mail, readable by the service's user alone: the files
 * hold working links.
 */
function fileTransport(config: AppConfig['mail']): MailTransport {
  const composer = createTransport(
    { streamTransport: true, buffer: true },
    { from: config.from, headers: HEADERS },
  );
  let prepared = false;
  return {
    send: async (mail, { id }) => {
      const { message } = await composer.sendMail(mail);
      if (!prepared) {
        await mkdir(config.dir, { recursive: true, mode: 0o700 });
        await chmod(config.dir, 0o700);
        prepared = true;
      }
      const path = join(config.dir, `${id}.eml`);
      await writeFile(path, message, { mode: 0o600 });
      await chmod(path, 0o600); // an older file of the same mail (a retry) keeps its mode otherwise
      return { via: 'file', path };
    },
    close: () => composer.close(),
  };
}
