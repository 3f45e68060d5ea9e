import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { Public } from '../access/access.decorators.js';
import { ApiZodResponse, type HeaderObject } from '../common/openapi/zod-openapi.js';
import { SigningKeysService } from './signing-keys.service.js';

const JwksSchema = z
  .object({
    keys: z.array(
      z.looseObject({ kid: z.string(), kty: z.string(), alg: z.string(), use: z.literal('sig') }),
    ),
  })
  .meta({
    example: {
      keys: [
        {
          kty: 'EC',
          crv: 'P-256',
          x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
          y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
          kid: 'k1',
          alg: 'ES256',
          use: 'sig',
        },
      ],
    },
  });

/** Public documents verifiers fetch and cache for JWKS_MAX_AGE (a rotation waits that long). */
export const CACHEABLE: Record<string, HeaderObject> = {
  'Cache-Control': {
    description: '`public, max-age=<JWKS_MAX_AGE in seconds>`',
    required: true,
    schema: { type: 'string', example: 'public, max-age=300' },
  },
};

@ApiTags('keys')
@Controller('.well-known')
export class JwksController {
  constructor(
    private readonly keys: SigningKeysService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Public()
  @Get('jwks.json')
  @ApiOperation({ summary: 'Public keys that verify access tokens (JWK Set)' })
  @ApiZodResponse(200, JwksSchema, 'The published keys: pending, active and recently retired', CACHEABLE)
  jwks(@Res({ passthrough: true }) reply: FastifyReply): z.infer<typeof JwksSchema> {
    // Rotation waits out this max-age before a new key signs (see SigningKeysService).
    void reply.header('cache-control', `public, max-age=${this.config.jwt.jwksMaxAge}`);
    return this.keys.jwks();
  }
}
