import { type DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuthorizationGuard } from './access/authorization.guard.js';
import { AuditModule } from './audit/audit.module.js';
import { AccessTokenGuard } from './auth/access-token.guard.js';
import { AuthModule } from './auth/auth.module.js';
import type { AppConfig } from './config/app-config.js';
import { ConfigModule } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import { DiscoveryModule } from './discovery/discovery.module.js';
import type { DatabaseConnection } from './database/database.types.js';
import { HealthModule } from './health/health.module.js';
import { KeyAdminModule } from './key-admin/key-admin.module.js';
import { KeysModule } from './keys/keys.module.js';
import { MailDeliveryModule } from './mail/mail.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { MfaModule } from './mfa/mfa.module.js';
import { ClientsModule } from './clients/clients.module.js';
import { OAuthModule } from './oauth/oauth.module.js';
import { SessionsModule } from './sessions/sessions.module.js';
import { RetentionModule } from './retention/retention.module.js';
import { RateLimitGuard } from './throttling/rate-limit.guard.js';
import { ThrottlingModule } from './throttling/throttling.module.js';
import { UsersModule } from './users/users.module.js';

export interface AppModuleOptions {
  /** An already open database (tests hand in a copy of a migrated template). */
  databaseConnection?: DatabaseConnection;
}

/**
 * The global guards, in the order they run on every request:
 * 1. the rate limit (/auth routes), first so that requests with bad tokens count too;
 * 2. authentication: an access token of a live session, unless the route is @Public();
 * 3. authorization: the route's roles and permissions against the caller's current roles.
 */
const GLOBAL_GUARDS = [RateLimitGuard, AccessTokenGuard, AuthorizationGuard].map((guard) => ({
  provide: APP_GUARD,
  useClass: guard,
}));

@Module({})
export class AppModule {
  static forRoot(config: AppConfig, options: AppModuleOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        // Global: configuration and the database.
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot(options.databaseConnection),
        // Features; each imports what it uses. These three also serve the global guards.
        ThrottlingModule,
        KeysModule,
        SessionsModule,
        AuditModule,
        UsersModule,
        KeyAdminModule,
        MfaModule,
        AuthModule,
        ClientsModule,
        OAuthModule,
        RetentionModule,
        MailDeliveryModule,
        // Edges.
        HealthModule,
        MetricsModule,
        DiscoveryModule,
      ],
      providers: GLOBAL_GUARDS,
    };
  }
}
