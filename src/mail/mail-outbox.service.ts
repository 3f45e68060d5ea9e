import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { Transaction } from '../database/database.types.js';
import { MailOutboxRepository } from '../database/mail-outbox.repository.js';

/** The window MAIL_PER_ADDRESS_PER_HOUR counts in. */
const LIMIT_WINDOW_SECONDS = 3600;

export interface MailRequest {
  kind: string;
  to: string;
  /** The account the mail is about, if there is one. */
  userId: string | null;
  /** What the composer needs beyond the account; never a secret (it is stored as is). */
  payload?: Record<string, string>;
  /**
   * Whether MAIL_PER_ADDRESS_PER_HOUR may drop it. A request anyone can make
   * (a link) is limited; a notice of a change the owner must know about is
   * not (it still counts), or exhausting the address's quota first would hide it.
   */
  limited: boolean;
}

/** `queued`, or `limited`: over MAIL_PER_ADDRESS_PER_HOUR, nothing was queued. */
export type EnqueueOutcome = 'queued' | 'limited';

/**
 * Queues mail in the caller's transaction (the outbox), so that the mail
 * exists if and only if the change that causes it commits. After the commit
 * the caller calls `wake()`: this instance's worker looks at once, rather
 * than at its next poll.
 */
@Injectable()
export class MailOutbox {
  private readonly wakeListeners = new Set<() => void>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly outbox: MailOutboxRepository,
  ) {}

  async enqueue(tx: Transaction, request: MailRequest): Promise<EnqueueOutcome> {
    // One address at a time: concurrent requests count each other.
    await this.outbox.lockAddress(tx, request.to);
    const recent = await this.outbox.countRecent(tx, request.to, LIMIT_WINDOW_SECONDS);
    if (request.limited && recent >= this.config.mail.perAddressPerHour) return 'limited';
    await this.outbox.insert(tx, {
      kind: request.kind,
      recipient: request.to,
      userId: request.userId,
      payload: request.payload,
    });
    return 'queued';
  }

  /** Call after the transaction that queued mail committed. */
  wake(): void {
    for (const listener of this.wakeListeners) listener();
  }

  /** The worker's subscription; returns the unsubscribe. */
  onWake(listener: () => void): () => void {
    this.wakeListeners.add(listener);
    return () => this.wakeListeners.delete(listener);
  }
}
