import { Controller, Get, Headers, HttpCode, Post, Res, UseGuards } from '@nestjs/common';
import { ApiBasicAuth, ApiConsumes, ApiHeader, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { Readable } from 'node:stream';
import { Public } from '../access/access.decorators.js';
import { ApiError } from '../common/errors/api-error.js';
import {
  ApiOAuthErrors,
  ApiZodResponse,
  type HeaderObject,
  ZodBody,
  ZodQuery,
} from '../common/openapi/zod-openapi.js';
import type { AuthenticatedClient } from '../clients/clients.service.js';
import { ClientAuthGuard, RequireClientScope, ServiceClient } from './client-authentication.js';
import {
  type IntrospectionRequest,
  IntrospectionRequestSchema,
  type IntrospectionResponse,
  IntrospectionResponseSchema,
  RevocationListSchema,
  type RevocationEventView,
  type RevocationsQuery,
  RevocationsQuerySchema,
  type TokenRequest,
  TokenRequestSchema,
  type TokenResponse,
  TokenResponseSchema,
} from './oauth.schemas.js';
import { OAuthService } from './oauth.service.js';
import { RevocationFeedService } from './revocation-feed.service.js';

const NO_STORE: Record<string, HeaderObject> = {
  'Cache-Control': {
    description: '`no-store`',
    required: true,
    schema: { type: 'string', example: 'no-store' },
  },
};

const FORM = 'application/x-www-form-urlencoded';

/**
 * OAuth 2.0 for service clients: the client-credentials grant, introspection and the revocation
 * feed. No user token here (@Public): every route authenticates the client (ClientAuthGuard), and
 * every error takes RFC 6749's shape.
 */
@ApiTags('oauth')
@ApiBasicAuth('clientBasic')
@Public()
@UseGuards(ClientAuthGuard)
@Controller('oauth')
export class OAuthController {
  constructor(
    private readonly oauth: OAuthService,
    private readonly feed: RevocationFeedService,
  ) {}

  @Post('token')
  @HttpCode(200)
  @ApiConsumes(FORM, 'application/json')
  @ApiOperation({
    summary: 'Client credentials grant (RFC 6749 §4.4): an access token for the client itself',
    description:
      'Client authentication: HTTP Basic (id and secret form-urlencoded, RFC 6749 §2.3.1) or ' +
      '`client_id` + `client_secret` in the body. The token has `sub` and `client_id` (the client) and ' +
      '`scope`, no `sid`: Gatehouse’s own routes refuse it. Rate limited with /auth/*. Errors: RFC 6749 §5.2.',
  })
  @ApiZodResponse(200, TokenResponseSchema, 'The token', NO_STORE)
  @ApiOAuthErrors(
    'invalid_request',
    'unsupported_grant_type',
    'invalid_scope',
    'invalid_client',
    'too_many_requests',
    'unavailable',
  )
  token(
    @ZodBody(TokenRequestSchema) body: TokenRequest,
    @ServiceClient() client: AuthenticatedClient,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): TokenResponse {
    void reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    return this.oauth.token(client, body);
  }

  @Post('introspect')
  @HttpCode(200)
  @RequireClientScope('introspect')
  @ApiConsumes(FORM, 'application/json')
  @ApiOperation({
    summary: 'Token introspection (RFC 7662): whether a token is valid now, and what it stands for',
    description:
      'Needs the client scope `introspect`. `{ "active": false }` for anything but a currently valid ' +
      'access token (expired, revoked session, disabled or deleted user, deleted client, foreign or ' +
      'garbage, a refresh token). A user’s token shows the user’s roles now.',
  })
  @ApiZodResponse(200, IntrospectionResponseSchema, 'What the token is', NO_STORE)
  @ApiOAuthErrors(
    'invalid_request',
    'invalid_client',
    'insufficient_scope',
    'too_many_requests',
    'unavailable',
  )
  introspect(
    @ZodBody(IntrospectionRequestSchema) body: IntrospectionRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<IntrospectionResponse> {
    void reply.header('cache-control', 'no-store');
    return this.oauth.introspect(body.token);
  }

  @Get('revocations')
  @RequireClientScope('revocations:read')
  @ApiProduces('application/json', 'text/event-stream')
  @ApiHeader({
    name: 'Last-Event-ID',
    required: false,
    description: 'Server-Sent Events: resume after this event id (a `revokedAt`), replaying 5 s before it',
  })
  @ApiOperation({
    summary: 'The revocation feed: JSON, or a Server-Sent Events stream',
    description:
      'Needs the client scope `revocations:read`. The events that make unexpired access tokens ' +
      'unacceptable (a session ended, roles changed, a client deleted), oldest first, while their `until` ' +
      'is ahead. With `Accept: text/event-stream`: a stream — catch-up from `since` or `Last-Event-ID`, ' +
      'an `event: ready`, then every new event within a second, keep-alive comments every 15 s. See ' +
      'docs/integrating.md for the wire format.',
  })
  @ApiZodResponse(200, RevocationListSchema, 'The events (JSON), or the stream (text/event-stream)', NO_STORE)
  @ApiOAuthErrors(
    'invalid_request',
    'invalid_client',
    'insufficient_scope',
    'too_many_requests',
    'unavailable',
  )
  async revocations(
    @ZodQuery(RevocationsQuerySchema) query: RevocationsQuery,
    @Headers('accept') accept: string | undefined,
    @Headers('last-event-id') lastEventId: string | undefined,
    @ServiceClient() client: AuthenticatedClient,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<RevocationEventView[] | Readable> {
    void reply.header('cache-control', 'no-store');
    const since = query.since === undefined ? undefined : new Date(query.since);
    // HEAD (Fastify's twin of GET) never opens a stream: it would have no body to end.
    if (!accept?.includes('text/event-stream') || reply.request.method === 'HEAD')
      return this.feed.list(since);
    const stream = this.feed.open(client.id, { since, lastEventId: parseEventId(lastEventId) });
    reply.raw.on('close', stream.close);
    void reply.header('content-type', 'text/event-stream; charset=utf-8').header('x-accel-buffering', 'no');
    return stream.body;
  }
}

/** A Last-Event-ID is an event's `revokedAt`; anything else is a bad request. */
function parseEventId(header: string | undefined): Date | undefined {
  if (header === undefined || header === '') return undefined;
  const at = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/.test(header) ? new Date(header) : undefined;
  if (!at || Number.isNaN(at.getTime()))
    throw new ApiError('invalid_request', 'Last-Event-ID must be an event id');
  return at;
}
