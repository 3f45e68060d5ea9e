import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { RepositoriesModule } from '../database/repositories.module.js';
import { KeysModule } from '../keys/keys.module.js';
import { MfaModule } from '../mfa/mfa.module.js';
import { PasswordsModule } from '../passwords/passwords.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { ThrottlingModule } from '../throttling/throttling.module.js';
import { CurrentPasswordModule } from '../users/current-password.module.js';
import { UsersModule } from '../users/users.module.js';
import { AuthController } from './auth.controller.js';
import { AuthService } from './auth.service.js';

/** The flows: signup, signin (with its MFA step), refresh, signout, password change. (Its guard is registered in AppModule.) */
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
  ],
  controllers: [AuthController],
  providers: [AuthService],
})
export class AuthModule {}
