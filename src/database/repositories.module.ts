import { Module } from '@nestjs/common';
import { AuditEventsRepository } from './audit-events.repository.js';
import { ClientsRepository } from './clients.repository.js';
import { MfaChallengesRepository } from './mfa-challenges.repository.js';
import { MfaRecoveryCodesRepository } from './mfa-recovery-codes.repository.js';
import { MfaTotpRepository } from './mfa-totp.repository.js';
import { LinkTokensRepository } from './link-tokens.repository.js';
import { MailOutboxRepository } from './mail-outbox.repository.js';
import { RevocationEventsRepository } from './revocation-events.repository.js';
import { SessionsRepository } from './sessions.repository.js';
import { SigningKeysRepository } from './signing-keys.repository.js';
import { UsersRepository } from './users.repository.js';

const REPOSITORIES = [
  UsersRepository,
  SessionsRepository,
  AuditEventsRepository,
  SigningKeysRepository,
  MfaTotpRepository,
  MfaRecoveryCodesRepository,
  MfaChallengesRepository,
  LinkTokensRepository,
  MailOutboxRepository,
  ClientsRepository,
  RevocationEventsRepository,
];

/**
 * One repository per table: the only place SQL lives. Stateless; each method
 * takes the caller's executor, so a service composes several in one transaction.
 */
@Module({ providers: REPOSITORIES, exports: REPOSITORIES })
export class RepositoriesModule {}
