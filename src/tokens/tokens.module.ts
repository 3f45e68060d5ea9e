import { Module } from '@nestjs/common';
import { KeysModule } from '../keys/keys.module.js';
import { AccessTokenService } from './access-token.service.js';

@Module({
  imports: [KeysModule],
  providers: [AccessTokenService],
  exports: [AccessTokenService],
})
export class TokensModule {}
