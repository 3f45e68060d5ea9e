import { Controller, Delete, Get, HttpCode, Post, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { z } from 'zod';
import { Authenticated } from '../access/access.decorators.js';
import { CurrentUser } from '../access/current-user.decorator.js';
import type { Principal } from '../access/principal.js';
import { ClientInfo } from '../common/http/client-info.js';
import { ApiNoContent, ApiZodResponse, ZodBody, ZodParam, ZodQuery } from '../common/openapi/zod-openapi.js';
import { ApiPage, finishPage } from '../common/pagination/keyset.js';
import {
  ClientIdSchema,
  ClientSchema,
  ClientsQuerySchema,
  type ClientView,
  type CreateClientBody,
  CreateClientSchema,
  CreatedClientSchema,
  type CreatedClientView,
} from './client.schemas.js';
import { clientView, ClientsService } from './clients.service.js';

/** Service clients administration (permissions `clients:read` / `clients:write`, role admin). */
@ApiTags('clients')
@Controller('clients')
export class ClientsController {
  constructor(private readonly clients: ClientsService) {}

  @Post()
  @Authenticated({ permission: 'clients:write', errors: ['validation_failed'] })
  @ApiOperation({
    summary: 'Creates a service client; its secret is in this answer only',
    description:
      'The secret (256 random bits) is kept only as a SHA-256 hash: store it now. Scopes: `introspect`, ' +
      '`revocations:read`, and resource scopes (1–64 characters of letters, digits and `_.:/-`) that ' +
      "Gatehouse only puts in the client's tokens. Audited (`client_created`).",
  })
  @ApiZodResponse(201, CreatedClientSchema, 'Created', {
    'Cache-Control': {
      description: '`no-store`: the answer holds a secret',
      required: true,
      schema: { type: 'string', example: 'no-store' },
    },
  })
  create(
    @ZodBody(CreateClientSchema) body: CreateClientBody,
    @CurrentUser() principal: Principal,
    @ClientInfo() client: ClientInfo,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<CreatedClientView> {
    void reply.header('cache-control', 'no-store');
    return this.clients.create(body, { actorId: principal.userId, client });
  }

  @Get()
  @Authenticated({ permission: 'clients:read', errors: ['validation_failed'] })
  @ApiOperation({
    summary: 'Service clients, newest first (never a secret)',
    description: 'Keyset pagination with `limit` (1–100) and an opaque `cursor`; the next page is in `Link`.',
  })
  @ApiPage(ClientSchema)
  async list(
    @ZodQuery(ClientsQuerySchema) query: z.output<typeof ClientsQuerySchema>,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ClientView[]> {
    return finishPage(await this.clients.list(query), query, reply, '/clients', {}).map(clientView);
  }

  @Delete(':id')
  @HttpCode(204)
  @Authenticated({ permission: 'clients:write', errors: ['validation_failed', 'not_found'] })
  @ApiOperation({
    summary: 'Deletes a service client; its tokens are inactive at once',
    description:
      'It can no longer authenticate; introspection answers `active: false` for its tokens, and the ' +
      'revocation feed carries a `client_deleted` event. Audited (`client_deleted`).',
  })
  @ApiNoContent('Deleted')
  delete(
    @ZodParam('id', ClientIdSchema) id: string,
    @CurrentUser() principal: Principal,
    @ClientInfo() client: ClientInfo,
  ): Promise<void> {
    return this.clients.delete(id, { actorId: principal.userId, client });
  }
}
