import { Controller, Delete, Get, HttpCode, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { Authenticated } from '../access/access.decorators.js';
import { CurrentUser } from '../access/current-user.decorator.js';
import type { Principal } from '../access/principal.js';
import { ClientInfo } from '../common/http/client-info.js';
import type { FastifyReply } from 'fastify';
import { ApiNoContent, ZodParam, ZodQuery } from '../common/openapi/zod-openapi.js';
import { ApiPage, finishPage } from '../common/pagination/keyset.js';
import {
  SessionIdSchema,
  SessionsQuerySchema,
  type SessionView,
  SessionViewSchema,
} from './session.schemas.js';
import { SessionsService } from './sessions.service.js';

// Under /auth: the per-minute rate limit applies to both routes.
@ApiTags('sessions')
@Controller('auth/sessions')
export class SessionsController {
  constructor(private readonly sessions: SessionsService) {}

  @Get()
  @Authenticated({ errors: ['validation_failed', 'too_many_requests'] })
  @ApiOperation({
    summary: "The caller's active sessions (one per signin), newest first",
    description: 'Keyset pagination with `limit` (1–100) and an opaque `cursor`; the next page is in `Link`.',
  })
  @ApiPage(SessionViewSchema)
  async list(
    @CurrentUser() principal: Principal,
    @ZodQuery(SessionsQuerySchema) query: z.output<typeof SessionsQuerySchema>,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<SessionView[]> {
    return finishPage(await this.sessions.listActive(principal, query), query, reply, '/auth/sessions', {});
  }

  @Delete(':id')
  @HttpCode(204)
  @Authenticated({ errors: ['validation_failed', 'not_found', 'too_many_requests'] })
  @ApiOperation({ summary: "Revokes one of the caller's sessions" })
  @ApiNoContent('Session ended')
  revoke(
    @CurrentUser() principal: Principal,
    @ZodParam('id', SessionIdSchema) id: string,
    @ClientInfo() client: ClientInfo,
  ): Promise<void> {
    return this.sessions.revokeOwn(principal.userId, id, client);
  }
}
