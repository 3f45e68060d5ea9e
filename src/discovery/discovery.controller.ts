import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { Public } from '../access/access.decorators.js';
import { GATEHOUSE_SCOPES } from '../clients/client.schemas.js';
import { ApiZodResponse, type HeaderObject } from '../common/openapi/zod-openapi.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';

const MetadataSchema = z
  .object({
    issuer: z.string().describe('The `iss` of every access token (JWT_ISSUER, by default PUBLIC_URL)'),
    jwks_uri: z.string().describe('The public keys that verify access tokens'),
    token_endpoint: z.string().describe('POST /oauth/token: the client credentials grant'),
    grant_types_supported: z.array(z.string()),
    token_endpoint_auth_methods_supported: z.array(z.string()),
    introspection_endpoint: z.string().describe('POST /oauth/introspect (RFC 7662)'),
    introspection_endpoint_auth_methods_supported: z.array(z.string()),
    revocation_feed_endpoint: z
      .string()
      .describe('GET /oauth/revocations: the revocation feed (Gatehouse’s own member, not RFC 8414’s)'),
    scopes_supported: z
      .array(z.string())
      .describe("Gatehouse's own client scopes; resource scopes are the deployment's"),
    response_types_supported: z
      .array(z.string())
      .describe('Empty: there is no authorization endpoint (RFC 8414 asks for the list even so)'),
    service_documentation: z.string().describe('The API reference'),
  })
  .meta({
    example: {
      issuer: 'https://auth.example.com',
      jwks_uri: 'https://auth.example.com/.well-known/jwks.json',
      token_endpoint: 'https://auth.example.com/oauth/token',
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      introspection_endpoint: 'https://auth.example.com/oauth/introspect',
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      revocation_feed_endpoint: 'https://auth.example.com/oauth/revocations',
      scopes_supported: ['introspect', 'revocations:read'],
      response_types_supported: [],
      service_documentation: 'https://auth.example.com/docs',
    },
  });
type Metadata = z.infer<typeof MetadataSchema>;

/** How service clients authenticate (RFC 6749 §2.3.1), at the token and introspection endpoints alike. */
const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const;

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
 * service has: keys, the client-credentials token endpoint, introspection (and, as an extension
 * member, the revocation feed). Gatehouse issues no ID token, so no `id_token_*` member.
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
      token_endpoint: `${config.publicUrl}/oauth/token`,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: [...CLIENT_AUTH_METHODS],
      introspection_endpoint: `${config.publicUrl}/oauth/introspect`,
      introspection_endpoint_auth_methods_supported: [...CLIENT_AUTH_METHODS],
      revocation_feed_endpoint: `${config.publicUrl}/oauth/revocations`,
      scopes_supported: Object.keys(GATEHOUSE_SCOPES),
      response_types_supported: [],
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
