import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { KeysModule } from '../keys/keys.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { KeyAdminController } from './key-admin.controller.js';
import { KeyAdminService } from './key-admin.service.js';

/** Key rotation and revocation on the running service: the admin API, and the command line's keys commands. */
@Module({
  imports: [AuditModule, KeysModule, SessionsModule],
  controllers: [KeyAdminController],
  providers: [KeyAdminService],
  exports: [KeyAdminService],
})
export class KeyAdminModule {}
