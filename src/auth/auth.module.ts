import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { RepositoriesModule } from '../database/repositories.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { KeysModule } from '../keys/keys.module.js';
import { UsersModule } from '../users/users.module.js';
import { AuthController } from './auth.controller.js';
import { AuthService } from './auth.service.js';
import { AccessTokenGuard } from './access-token.guard.js';
import { AuthorizationGuard } from '../access/authorization.guard.js';

@Module({
  imports: [RepositoriesModule, KeysModule, SessionsModule, UsersModule],
  controllers: [AuthController],
  providers: [
    AuthService,
    // Global guards run in this order: authentication, then authorization.
    { provide: APP_GUARD, useClass: AccessTokenGuard },
    { provide: APP_GUARD, useClass: AuthorizationGuard },
  ],
})
export class AuthModule {}
