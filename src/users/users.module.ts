import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { RepositoriesModule } from '../database/repositories.module.js';
import { PasswordsModule } from '../passwords/passwords.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { AdminBootstrapService } from './admin-bootstrap.service.js';
import { UserAdminController } from './user-admin.controller.js';
import { UserAdminService } from './user-admin.service.js';
import { UsersController } from './users.controller.js';
import { UsersService } from './users.service.js';

@Module({
  imports: [RepositoriesModule, AuditModule, PasswordsModule, SessionsModule],
  // UsersController first: its /users/me must win over /users/:id.
  controllers: [UsersController, UserAdminController],
  providers: [UsersService, UserAdminService, AdminBootstrapService],
  exports: [UsersService, AdminBootstrapService],
})
export class UsersModule {}
