import { Module } from '@nestjs/common';
import { AccessTokenService } from './access-token.service.js';
import { JwksController } from './jwks.controller.js';
import { SigningKeysService } from './signing-keys.service.js';

/** Signing keys (stored encrypted, rotated, published as a JWKS) and the access tokens they sign. */
@Module({
  controllers: [JwksController],
  providers: [SigningKeysService, AccessTokenService],
  exports: [SigningKeysService, AccessTokenService],
})
export class KeysModule {}
