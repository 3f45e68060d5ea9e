import { Module } from '@nestjs/common';
import { RepositoriesModule } from '../database/repositories.module.js';
import { AccessTokenService } from './access-token.service.js';
import { JwksController } from './jwks.controller.js';
import { SigningKeysService } from './signing-keys.service.js';

/** Signing keys (stored encrypted, rotated, published as a JWKS) and the access tokens they sign. */
@Module({
  imports: [RepositoriesModule],
  controllers: [JwksController],
  providers: [SigningKeysService, AccessTokenService],
  exports: [SigningKeysService, AccessTokenService],
})
export class KeysModule {}
