import { Module } from '@nestjs/common';
import { DiscoveryController } from './discovery.controller.js';

/** The issuer's metadata documents under /.well-known (RFC 8414 and OpenID Connect's path). */
@Module({ controllers: [DiscoveryController] })
export class DiscoveryModule {}
