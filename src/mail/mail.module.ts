import { Module } from '@nestjs/common';
import { RepositoriesModule } from '../database/repositories.module.js';
import { FailedMailService } from './failed-mail.service.js';
import { MailComposers } from './mail-composers.js';
import { MailOutbox } from './mail-outbox.service.js';
import { MailWorker } from './mail-worker.service.js';

/**
 * Mail: the outbox that flows queue mail into (in their transactions), the
 * composers they register, failed mail for the command line. No delivery:
 * the command line imports this module alone.
 */
@Module({
  imports: [RepositoriesModule],
  providers: [MailOutbox, MailComposers, FailedMailService],
  exports: [MailOutbox, MailComposers, FailedMailService],
})
export class MailModule {}

/** The delivery worker of a running service (one per instance), and its counters for the metrics. */
@Module({
  imports: [RepositoriesModule, MailModule],
  providers: [MailWorker],
  exports: [MailWorker],
})
export class MailDeliveryModule {}
