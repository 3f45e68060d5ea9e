import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { RepositoriesModule } from '../database/repositories.module.js';
import { ClientsController } from './clients.controller.js';
import { ClientsService } from './clients.service.js';

/** Service clients (machine to machine): the admin API, and client authentication for the OAuth routes. */
@Module({
  imports: [RepositoriesModule, AuditModule],
  controllers: [ClientsController],
  providers: [ClientsService],
  exports: [ClientsService],
})
export class ClientsModule {}
