import { randomUUID } from 'node:crypto';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleDestroy,
} from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { DATABASE } from '../database/database.module.js';
import type { Database } from '../database/database.types.js';
import { MailOutboxRepository } from '../database/mail-outbox.repository.js';
import type { MailOutboxRow } from '../database/schema.js';
import { MailComposers } from './mail-composers.js';
import { MailOutbox } from './mail-outbox.service.js';
import { createMailTransport, type MailTransport } from './mail-transport.js';

/** How often an idle worker looks for due mail (retries, other instances' mail, claims of dead ones). */
const POLL_INTERVAL_MS = 1_000;
/** Mails one instance sends at once. */
const CONCURRENCY = 4;
/** The longest wait between two attempts, however many failed. */
const MAX_RETRY_DELAY_SECONDS = 3600;
/** How long shutting down waits for sends under way (their claims expire otherwise). */
const SHUTDOWN_WAIT_MS = 5_000;
/** The longest error text kept or logged. */
const MAX_ERROR_LENGTH = 300;

/** Counters since start, for the metrics. */
export interface MailStats {
  sent: number;
  failed: number;
  retried: number;
}

/**
 * Delivers the outbox. Every instance runs one: it claims one due mail at a
 * time per lane (`FOR UPDATE SKIP LOCKED`, so two instances never claim the
 * same), has its composer write it (a link's token is made then), sends it,
 * and records the outcome. A failure is retried after an exponentially
 * growing delay with jitter (MAIL_RETRY_DELAY, doubling, at most an hour),
 * until MAIL_MAX_ATTEMPTS; then the mail is marked failed, with one warning
 * line and a metric. A claim is a lease of twice MAIL_SEND_TIMEOUT: should
 * the instance die mid-send, the mail is due again when it ends.
 *
 * It looks for mail when woken after a commit on this instance, and every
 * second besides (retries falling due, other instances' mail, dead claims).
 */
@Injectable()
export class MailWorker implements OnApplicationBootstrap, OnModuleDestroy, OnApplicationShutdown {
  private readonly logger = new Logger('Mail');
  private readonly transport: MailTransport;
  private readonly stats: MailStats = { sent: 0, failed: 0, retried: 0 };
  private readonly lanes = new Set<Promise<void>>();
  /** Set by every wake-up: a lane that found nothing looks once more. */
  private woken = false;
  private stopping = false;
  private timer?: NodeJS.Timeout;
  private unsubscribe?: () => void;
  /** Whether the last look at the outbox failed (one warning per outage, not one per second). */
  private outboxUnreachable = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(DATABASE) private readonly db: Database,
    private readonly outbox: MailOutboxRepository,
    private readonly composers: MailComposers,
    private readonly mailOutbox: MailOutbox,
  ) {
    this.transport = createMailTransport(config.mail);
  }

  onApplicationBootstrap(): void {
    if (!this.config.mail.smtpUrl) {
      this.logger.log(`no SMTP_URL: mail is written as .eml files into ${this.config.mail.dir}`);
    }
    this.unsubscribe = this.mailOutbox.onWake(() => this.wake());
    this.timer = setInterval(() => this.wake(), POLL_INTERVAL_MS);
    this.timer.unref();
    this.wake();
  }

  /** Stops looking, and waits a little for the sends under way. */
  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    this.unsubscribe?.();
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.lanes]),
      new Promise((resolve) => {
        timeout = setTimeout(resolve, SHUTDOWN_WAIT_MS);
        timeout.unref();
      }),
    ]);
    clearTimeout(timeout);
  }

  onApplicationShutdown(): void {
    this.transport.close();
  }

  /** Sent, failed and retried mails since start. */
  get counters(): Readonly<MailStats> {
    return this.stats;
  }

  /** Mail waiting to be sent, in the whole outbox. */
  pendingCount(): Promise<number> {
    return this.outbox.pendingCount(this.db);
  }

  /** Looks for due mail now: one more lane, unless all are busy. */
  wake(): void {
    this.woken = true;
    if (this.stopping || this.lanes.size >= CONCURRENCY) return;
    const lane = this.lane().finally(() => this.lanes.delete(lane));
    this.lanes.add(lane);
  }

  /** Claims and delivers mail one at a time until none is due. */
  private async lane(): Promise<void> {
    while (!this.stopping) {
      this.woken = false;
      const claimId = randomUUID();
      let mail: MailOutboxRow | undefined;
      try {
        mail = await this.outbox.claimDue(this.db, claimId, 2 * this.config.mail.sendTimeout);
        if (this.outboxUnreachable) this.logger.log('the mail outbox is reachable again');
        this.outboxUnreachable = false;
      } catch (error) {
        if (!this.outboxUnreachable) {
          this.logger.warn(`cannot read the mail outbox (retrying every second): ${errorText(error)}`);
        }
        this.outboxUnreachable = true;
        return;
      }
      if (!mail) {
        if (this.woken) continue; // mail was queued while this lane looked
        return;
      }
      this.wake(); // there may be more: another lane looks meanwhile
      await this.deliver(mail, claimId);
    }
  }

  private async deliver(mail: MailOutboxRow, claimId: string): Promise<void> {
    const composer = this.composers.get(mail.kind);
    try {
      if (!composer) throw new Error(`no composer for mail of kind ${mail.kind}`);
      const message = await this.db.transaction((tx) => composer(tx, mail));
      if (!message) {
        await this.outbox.finish(this.db, mail.id, claimId, 'cancelled', 'nothing to send any more');
        this.logger.debug(`mail ${mail.id} (${mail.kind}) cancelled: nothing to send any more`);
        return;
      }
      const delivery = await this.transport.send(message, {
        id: mail.id,
        signal: AbortSignal.timeout(this.config.mail.sendTimeout * 1000),
      });
      await this.outbox.finish(this.db, mail.id, claimId, 'sent');
      this.stats.sent++;
      this.logger.log(
        delivery.via === 'file'
          ? `mail ${mail.id} (${mail.kind}) written to ${delivery.path} (no SMTP_URL)`
          : `mail ${mail.id} (${mail.kind}) sent`,
      );
    } catch (error) {
      await this.failed(mail, claimId, errorText(error)).catch((failure: unknown) => {
        // The outbox is unreachable: the claim's lease ends and the mail is due again then.
        this.logger.warn(`cannot record a failed mail delivery: ${errorText(failure)}`);
      });
    }
  }

  private async failed(mail: MailOutboxRow, claimId: string, error: string): Promise<void> {
    const what = `mail ${mail.id} (${mail.kind})`;
    if (mail.attempts >= this.config.mail.maxAttempts) {
      await this.outbox.finish(this.db, mail.id, claimId, 'failed', error);
      this.stats.failed++;
      this.logger.warn(
        `${what} failed after ${mail.attempts} attempts, given up (see \`npm run cli -- mail failed\`): ${error}`,
      );
      return;
    }
    const delay = retryDelay(this.config.mail.retryDelay, mail.attempts);
    await this.outbox.release(this.db, mail.id, claimId, delay, error);
    this.stats.retried++;
    this.logger.log(`${what}: attempt ${mail.attempts} failed, next in ${Math.ceil(delay)} s: ${error}`);
  }
}

/**
 * Seconds before the next attempt after `attempts` failed: `base`, doubling
 * each time, at most an hour; then drawn between half and all of that
 * (jitter), so that mail that failed together is not retried together.
 */
export function retryDelay(base: number, attempts: number): number {
  const ceiling = Math.min(MAX_RETRY_DELAY_SECONDS, base * 2 ** Math.min(attempts - 1, 30));
  return ceiling * (0.5 + Math.random() * 0.5);
}

/**
 * An error as one short line for the outbox and the log. An SMTP server's
 * reply could quote what it was sent: anything shaped like a link token is
 * blanked, and the text is bounded.
 */
function errorText(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text
    .replace(/gh_lt_[A-Za-z0-9_-]+/g, '[link token]')
    .replace(/\s+/g, ' ')
    .slice(0, MAX_ERROR_LENGTH);
}
