import { Global, Module } from '@nestjs/common';
import { RepositoriesModule } from '../database/repositories.module.js';
import { AuditController } from './audit.controller.js';
import { AuditService } from './audit.service.js';

/** Global: every module that changes security state records it here. */
@Global()
@Module({
  imports: [RepositoriesModule],
  controllers: [AuditController],
  providers: [AuditService],
  exports: [AuditService],
})
export class AuditModule {}
