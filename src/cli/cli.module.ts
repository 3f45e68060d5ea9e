import { type DynamicModule, Module } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { ConfigModule } from '../config/config.module.js';
import { DatabaseModule } from '../database/database.module.js';
import type { DatabaseConnection } from '../database/database.types.js';
import { KeyAdminModule } from '../key-admin/key-admin.module.js';
import { KeysModule } from '../keys/keys.module.js';
import { MailModule } from '../mail/mail.module.js';
import { UsersModule } from '../users/users.module.js';

/** What the command line needs: configuration, the database, keys (and their administration), users and mail — no HTTP, no delivery. */
@Module({})
export class CliModule {
  /** `connection`: the database the CLI has opened (it closes it should set-up fail). */
  static forRoot(config: AppConfig, connection?: DatabaseConnection): DynamicModule {
    return {
      module: CliModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot(connection),
        KeysModule,
        KeyAdminModule,
        UsersModule,
        MailModule,
      ],
    };
  }
}
