import { Module } from '@nestjs/common';
import { RepositoriesModule } from '../database/repositories.module.js';
import { AuthStateService } from './auth-state.service.js';
import { SessionsController } from './sessions.controller.js';
import { SessionsService } from './sessions.service.js';

@Module({
  imports: [RepositoriesModule],
  controllers: [SessionsController],
  providers: [SessionsService, AuthStateService],
  exports: [SessionsService, AuthStateService],
})
export class SessionsModule {}
