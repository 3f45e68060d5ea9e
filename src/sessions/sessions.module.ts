import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { RepositoriesModule } from '../database/repositories.module.js';
import { AuthStateService } from './auth-state.service.js';
import { SessionsController } from './sessions.controller.js';
import { SessionsService } from './sessions.service.js';

@Module({
  imports: [RepositoriesModule, AuditModule],
  controllers: [SessionsController],
  providers: [SessionsService, AuthStateService],
  exports: [SessionsService, AuthStateService],
})
export class SessionsModule {}
