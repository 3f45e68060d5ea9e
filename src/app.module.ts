import { type DynamicModule, Module } from '@nestjs/common';
import { AuditModule } from './audit/audit.module.js';
import { AuthModule } from './auth/auth.module.js';
import type { AppConfig } from './config/app-config.js';
import { ConfigModule } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import type { DatabaseConnection } from './database/database.types.js';
import { HealthModule } from './health/health.module.js';
import { PasswordsModule } from './passwords/passwords.module.js';
import { RedisModule } from './redis/redis.module.js';
import { KeysModule } from './keys/keys.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { SessionsModule } from './sessions/sessions.module.js';
import { ThrottlingModule } from './throttling/throttling.module.js';
import { UsersModule } from './users/users.module.js';

export interface AppModuleOptions {
  /** An already open database (tests hand in a copy of a migrated template). */
  databaseConnection?: DatabaseConnection;
}

@Module({})
export class AppModule {
  static forRoot(config: AppConfig, options: AppModuleOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot(options.databaseConnection),
        AuditModule,
        RedisModule,
        // Before AuthModule: the rate limit's global guard runs before authentication's.
        ThrottlingModule,
        // One hasher for the whole app: its concurrency cap is per instance.
        { ...PasswordsModule.forRoot(config.password), global: true },
        KeysModule,
        UsersModule,
        SessionsModule,
        AuthModule,
        HealthModule,
        MetricsModule,
      ],
    };
  }
}
