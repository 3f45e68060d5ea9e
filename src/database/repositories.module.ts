import { Module } from '@nestjs/common';
import { AuditEventsRepository } from './audit-events.repository.js';
import { LinkTokensRepository } from './link-tokens.repository.js';
import { MailOutboxRepository } from './mail-outbox.repository.js';
import { SessionsRepository } from './sessions.repository.js';
import { SigningKeysRepository } from './signing-keys.repository.js';
import { UsersRepository } from './users.repository.js';

const REPOSITORIES = [
  UsersRepository,
  SessionsRepository,
  AuditEventsRepository,
  SigningKeysRepository,
  LinkTokensRepository,
  MailOutboxRepository,
];

/**
 * One repository per table: the only place SQL lives. Stateless; each method
 * takes the caller's executor, so a service composes several in one transaction.
 */
@Module({ providers: REPOSITORIES, exports: REPOSITORIES })
export class RepositoriesModule {}
