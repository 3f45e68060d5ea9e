import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { AuditEventsRepository } from '../database/audit-events.repository.js';
import { DATABASE_CONNECTION, type DatabaseConnection } from '../database/database.types.js';
import { MfaChallengesRepository } from '../database/mfa-challenges.repository.js';
import { LinkTokensRepository } from '../database/link-tokens.repository.js';
import { MailOutboxRepository } from '../database/mail-outbox.repository.js';
import { RevocationEventsRepository } from '../database/revocation-events.repository.js';
import { SessionsRepository } from '../database/sessions.repository.js';
import { accessTokenLifetimeBound } from '../keys/access-token.js';

/** Arbitrary constant: the advisory lock under which one instance at a time runs a round ("gatr"). */
export const RETENTION_LOCK_KEY = 0x6761_7472;
/** Rows per statement: each statement's locks are short, whatever the backlog. */
export const RETENTION_BATCH = 1_000;
/** The first round, shortly after start; then one an hour. */
const FIRST_ROUND_MS = 60_000;
const ROUND_INTERVAL_MS = 60 * 60_000;
const DAY_MS = 24 * 60 * 60_000;
/** Links that ended or expired are kept this long (to tell "used" from "unknown" when investigating). */
const LINK_TOKENS_KEPT_MS = DAY_MS;
/** Sent and cancelled mail is kept this long (at least the hour MAIL_PER_ADDRESS_PER_HOUR counts in). */
const FINISHED_MAIL_KEPT_MS = 7 * DAY_MS;
/** Failed mail is kept this long for `mail failed` and `mail retry`. */
const FAILED_MAIL_KEPT_MS = 30 * DAY_MS;

export type RetentionRound =
  | { ran: false }
  | {
      ran: true;
      auditEvents: number;
      refreshTokens: number;
      sessions: number;
      mfaChallenges: number;
      linkTokens: number;
      mail: number;
      revocationEvents: number;
    };

/**
 * Deletes what is no longer needed, so that nothing grows without end:
 * audit events older than AUDIT_RETENTION, and sessions past their absolute
 * end (SESSION_MAX_AGE after signin; revoked or not: no token of theirs can
 * be used any more) with their refresh tokens; expired MFA challenges; revocation-feed events once
 * every token they concern has expired; links a day after they ended
 * or expired; sent and cancelled mail after a week, failed mail after 30
 * days. Runs shortly after start and
 * then hourly, in batches of RETENTION_BATCH rows per statement, and on one
 * instance at a time: a round takes a PostgreSQL advisory try-lock, and an
 * instance that cannot take it skips the round.
 */
@Injectable()
export class RetentionService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(RetentionService.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<RetentionRound>;
  private stopping = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(DATABASE_CONNECTION) private readonly connection: DatabaseConnection,
    private readonly sessions: SessionsRepository,
    private readonly auditEvents: AuditEventsRepository,
    private readonly mfaChallenges: MfaChallengesRepository,
    private readonly linkTokens: LinkTokensRepository,
    private readonly mailOutbox: MailOutboxRepository,
    private readonly revocationEvents: RevocationEventsRepository,
  ) {}

  onApplicationBootstrap(): void {
    this.schedule(FIRST_ROUND_MS);
  }

  /** Stops the schedule and waits for a round under way to finish its current batch. */
  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => {});
  }

  /** One round now (unless one is running here already); `{ ran: false }` when another instance holds it. */
  runOnce(): Promise<RetentionRound> {
    this.running ??= this.round().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      void this.runOnce()
        .then((round) => {
          if (
            round.ran &&
            round.auditEvents + round.refreshTokens + round.sessions + round.linkTokens + round.mail > 0
          ) {
            this.logger.log(
              `retention: deleted ${round.auditEvents} audit events, ${round.sessions} ended sessions, ` +
                `${round.refreshTokens} refresh tokens, ${round.linkTokens} links, ${round.mail} mails`,
            );
          }
        })
        .catch((error: unknown) => {
          this.logger.warn(
            `retention round failed: ${error instanceof Error ? error.message : String(error)}`,
          );
        })
        .finally(() => this.schedule(ROUND_INTERVAL_MS));
    }, delayMs);
    this.timer.unref();
  }

  private async round(): Promise<RetentionRound> {
    const outcome = await this.connection.exclusively(RETENTION_LOCK_KEY, async (db) => {
      const now = Date.now();
      const auditCutoff = new Date(now - this.config.auditRetention * 1000);
      const sessionsEndedBefore = new Date(now);
      const auditEvents = await this.batches(() =>
        this.auditEvents.purgeOlderThan(db, auditCutoff, RETENTION_BATCH),
      );
      const refreshTokens = await this.batches(() =>
        this.sessions.purgeRefreshTokensOfEnded(db, sessionsEndedBefore, RETENTION_BATCH),
      );
      const sessions = await this.batches(() =>
        this.sessions.purgeEnded(db, sessionsEndedBefore, RETENTION_BATCH),
      );
      const mfaChallenges = await this.batches(() =>
        this.mfaChallenges.purgeExpired(db, new Date(now), RETENTION_BATCH),
      );
      const linkTokens = await this.batches(() =>
        this.linkTokens.purgeEndedBefore(db, new Date(now - LINK_TOKENS_KEPT_MS), RETENTION_BATCH),
      );
      const finishedMail = await this.batches(() =>
        this.mailOutbox.purgeFinishedBefore(
          db,
          ['sent', 'cancelled'],
          new Date(now - FINISHED_MAIL_KEPT_MS),
          RETENTION_BATCH,
        ),
      );
      const failedMail = await this.batches(() =>
        this.mailOutbox.purgeFinishedBefore(
          db,
          ['failed'],
          new Date(now - FAILED_MAIL_KEPT_MS),
          RETENTION_BATCH,
        ),
      );
      // A revocation matters until every token it concerns has expired (the feed's `until`).
      const revocationsBefore = new Date(
        now - accessTokenLifetimeBound(this.config.jwt.accessTokenTtl) * 1000,
      );
      const revocationEvents = await this.batches(() =>
        this.revocationEvents.purgeOlderThan(db, revocationsBefore, RETENTION_BATCH),
      );
      return {
        auditEvents,
        refreshTokens,
        sessions,
        mfaChallenges,
        linkTokens,
        mail: finishedMail + failedMail,
        revocationEvents,
      };
    });
    return outcome.ran ? { ran: true, ...outcome.result } : { ran: false };
  }

  /** Repeats a one-batch delete until a batch comes back short (or the service stops); the total. */
  private async batches(deleteBatch: () => Promise<number>): Promise<number> {
    let total = 0;
    for (;;) {
      const deleted = await deleteBatch();
      total += deleted;
      if (deleted < RETENTION_BATCH || this.stopping) return total;
    }
  }
}
