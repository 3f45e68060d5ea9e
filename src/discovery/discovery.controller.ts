import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { Public } from '../access/access.decorators.js';
import { ApiZodResponse, type HeaderObject } from '../common/openapi/zod-openapi.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';

const MetadataSchema = z
  .object({
    issuer: z.string().describe('The `iss` of every access token (JWT_ISSUER, by default PUBLIC_URL)'),
    jwks_uri: z.string().describe('The public keys that verify access tokens'),
    response_types_supported: z
      .array(z.string())
      .describe('Empty: there is no authorization endpoint (RFC 8414 asks for the list even so)'),
    service_documentation: z.string().describe('The API reference'),
  })
  .meta({
    example: {
      issuer: 'https://auth.example.com',
      jwks_uri: 'https://auth.example.com/.well-known/jwks.json',
      response_types_supported: [],
      service_documentation: 'https://auth.example.com/docs',
    },
  });
type Metadata = z.infer<typeof MetadataSchema>;

const CACHEABLE: Record<string, HeaderObject> = {
  'Cache-Control': {
    description: '`public, max-age=<JWKS_MAX_AGE in seconds>`, as the JWKS',
    required: true,
    schema: { type: 'string', example: 'public, max-age=300' },
  },
};

/**
 * The issuer's metadata, so that a verifier needs nothing but the issuer URL
 * (the `iss` of a token): RFC 8414's document, also at OpenID Connect's
 * discovery path, where most libraries look first. It lists only what this
 * service has. Gatehouse issues no ID token, so no `id_token_*` member.
 */
@ApiTags('keys')
@Public()
@Controller('.well-known')
export class DiscoveryController {
  private readonly metadata: Metadata;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.metadata = {
      issuer: config.jwt.issuer,
      jwks_uri: `${config.publicUrl}/.well-known/jwks.json`,
      response_types_supported: [],
      // The token endpoint (client credentials) and introspection come with service clients; then add here
      // token_endpoint, grant_types_supported, token_endpoint_auth_methods_supported,
      // introspection_endpoint and introspection_endpoint_auth_methods_supported.
      service_documentation: `${config.publicUrl}/docs`,
    };
  }

  @Get('oauth-authorization-server')
  @ApiOperation({ summary: 'Authorization server metadata (RFC 8414): the issuer and where its keys are' })
  @ApiZodResponse(200, MetadataSchema, 'The metadata', CACHEABLE)
  authorizationServer(@Res({ passthrough: true }) reply: FastifyReply): Metadata {
    return this.cached(reply);
  }

  @Get('openid-configuration')
  @ApiOperation({
    summary: 'The same metadata at the OpenID Connect discovery path',
    description:
      'Libraries that discover an issuer look here first. Gatehouse is no OpenID provider (it issues ' +
      'access tokens, not ID tokens): the document holds the same members as RFC 8414’s.',
  })
  @ApiZodResponse(200, MetadataSchema, 'The metadata', CACHEABLE)
  openidConfiguration(@Res({ passthrough: true }) reply: FastifyReply): Metadata {
    return this.cached(reply);
  }

  private cached(reply: FastifyReply): Metadata {
    void reply.header('cache-control', `public, max-age=${this.config.jwt.jwksMaxAge}`);
    return this.metadata;
  }
}
