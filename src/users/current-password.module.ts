import { Module } from '@nestjs/common';
import { RepositoriesModule } from '../database/repositories.module.js';
import { PasswordsModule } from '../passwords/passwords.module.js';
import { ThrottlingModule } from '../throttling/throttling.module.js';
import { CurrentPasswordService } from './current-password.service.js';

/**
 * Asking for the current password again, counted against the signin limit. A module of its own
 * so that UsersModule (which the command line loads) does not pull in the throttling counters.
 */
@Module({
  imports: [RepositoriesModule, PasswordsModule, ThrottlingModule],
  providers: [CurrentPasswordService],
  exports: [CurrentPasswordService],
})
export class CurrentPasswordModule {}
