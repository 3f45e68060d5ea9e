import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { RepositoriesModule } from '../database/repositories.module.js';
import { KeysModule } from '../keys/keys.module.js';
import { AuthStateService } from './auth-state.service.js';
import { KeyRevocationService } from './key-revocation.service.js';
import { SessionsController } from './sessions.controller.js';
import { SessionsService } from './sessions.service.js';

@Module({
  imports: [RepositoriesModule, AuditModule, KeysModule],
  controllers: [SessionsController],
  providers: [SessionsService, AuthStateService, KeyRevocationService],
  exports: [SessionsService, AuthStateService, KeyRevocationService],
})
export class SessionsModule {}
