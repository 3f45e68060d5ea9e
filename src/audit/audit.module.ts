import { Module } from '@nestjs/common';
import { RepositoriesModule } from '../database/repositories.module.js';
import { AuditController } from './audit.controller.js';
import { AuditService } from './audit.service.js';

/** The audit log: each module that changes security state imports it to record the change. */
@Module({
  imports: [RepositoriesModule],
  controllers: [AuditController],
  providers: [AuditService],
  exports: [AuditService],
})
export class AuditModule {}
