import { Inject, Injectable } from '@nestjs/common';
import { DATABASE } from '../database/database.module.js';
import type { Database } from '../database/database.types.js';
import { type FailedMail, MailOutboxRepository } from '../database/mail-outbox.repository.js';

/** The longest list `mail failed` prints. */
const LIST_LIMIT = 1000;

/**
 * Failed mail for the operator (`mail failed`, `mail retry`): what failed,
 * to whom, and why, never the content (the outbox holds no link anyway).
 * A retried mail is pending again with a fresh count of attempts; the
 * worker of a running instance picks it up within a second.
 */
@Injectable()
export class FailedMailService {
  constructor(
    @Inject(DATABASE) private readonly db: Database,
    private readonly outbox: MailOutboxRepository,
  ) {}

  list(): Promise<FailedMail[]> {
    return this.outbox.listFailed(this.db, LIST_LIMIT);
  }

  /** Requeues one failed mail, or every one; the ids requeued. */
  retry(id?: string): Promise<string[]> {
    return this.outbox.requeueFailed(this.db, id);
  }
}
