import { Module } from '@nestjs/common';
import { ClientsModule } from '../clients/clients.module.js';
import { RepositoriesModule } from '../database/repositories.module.js';
import { KeysModule } from '../keys/keys.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { ClientAuthGuard } from './client-authentication.js';
import { OAuthController } from './oauth.controller.js';
import { OAuthService } from './oauth.service.js';
import { RevocationFeedService } from './revocation-feed.service.js';

/** OAuth 2.0 for service clients: /oauth/token, /oauth/introspect and the revocation feed. */
@Module({
  imports: [RepositoriesModule, ClientsModule, KeysModule, SessionsModule],
  controllers: [OAuthController],
  providers: [OAuthService, RevocationFeedService, ClientAuthGuard],
  exports: [RevocationFeedService],
})
export class OAuthModule {}
