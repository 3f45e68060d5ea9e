import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { RepositoriesModule } from '../database/repositories.module.js';
import { KeysModule } from '../keys/keys.module.js';
import { MfaModule } from '../mfa/mfa.module.js';
import { MailModule } from '../mail/mail.module.js';
import { PasswordsModule } from '../passwords/passwords.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { ThrottlingModule } from '../throttling/throttling.module.js';
import { CurrentPasswordModule } from '../users/current-password.module.js';
import { UsersModule } from '../users/users.module.js';
import { AccountMailComposers } from './account-mail.composers.js';
import { AuthController } from './auth.controller.js';
import { AuthService } from './auth.service.js';
import { EmailController } from './email.controller.js';
import { EmailFlowsService } from './email-flows.service.js';
import { RefreshCookies } from './refresh-cookies.js';

/**
 * The flows: signup, signin (with its MFA step), refresh, signout, password change; and those
 * through the mailbox: email verification, password reset, email change.
 * (Its guard is registered in AppModule.)
 */
@Module({
  imports: [
    RepositoriesModule,
    AuditModule,
    PasswordsModule,
    KeysModule,
    SessionsModule,
    ThrottlingModule,
    UsersModule,
    CurrentPasswordModule,
    MfaModule,
    MailModule,
  ],
  controllers: [AuthController, EmailController],
  providers: [AuthService, EmailFlowsService, AccountMailComposers, RefreshCookies],
})
export class AuthModule {}
