import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { RepositoriesModule } from '../database/repositories.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { ThrottlingModule } from '../throttling/throttling.module.js';
import { CurrentPasswordModule } from '../users/current-password.module.js';
import { MfaAdminController } from './mfa-admin.controller.js';
import { MfaChallengesService } from './mfa-challenges.service.js';
import { MfaController } from './mfa.controller.js';
import { MfaService } from './mfa.service.js';
import { SecondFactorService } from './second-factor.service.js';
import { TotpSecretBox } from './totp-secret-box.js';

/**
 * Multi-factor authentication: TOTP and recovery codes. Its own routes turn MFA on and off; signin
 * (auth/) asks MfaChallengesService for the second step.
 */
@Module({
  imports: [RepositoriesModule, AuditModule, SessionsModule, ThrottlingModule, CurrentPasswordModule],
  controllers: [MfaController, MfaAdminController],
  providers: [MfaService, MfaChallengesService, SecondFactorService, TotpSecretBox],
  exports: [MfaChallengesService],
})
export class MfaModule {}
