import { Controller, Delete, Get, HttpCode } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { Authenticated } from '../access/access.decorators.js';
import { CurrentUser } from '../access/current-user.decorator.js';
import type { Principal } from '../access/principal.js';
import { ClientInfo } from '../common/http/client-info.js';
import { ApiZodResponse, ZodParam } from '../common/openapi/zod-openapi.js';
import { SessionIdSchema, type SessionView, SessionViewSchema } from './session.schemas.js';
import { SessionsService } from './sessions.service.js';

// Under /auth: the per-minute rate limit applies to both routes.
@ApiTags('sessions')
@Controller('auth/sessions')
export class SessionsController {
  constructor(private readonly sessions: SessionsService) {}

  @Get()
  @Authenticated({ errors: ['too_many_requests'] })
  @ApiOperation({ summary: "The caller's active sessions (one per signin)" })
  @ApiZodResponse(200, z.array(SessionViewSchema))
  list(@CurrentUser() principal: Principal): Promise<SessionView[]> {
    return this.sessions.listActive(principal);
  }

  @Delete(':id')
  @HttpCode(204)
  @Authenticated({ errors: ['validation_failed', 'not_found', 'too_many_requests'] })
  @ApiOperation({ summary: "Revokes one of the caller's sessions" })
  revoke(
    @CurrentUser() principal: Principal,
    @ZodParam('id', SessionIdSchema) id: string,
    @ClientInfo() client: ClientInfo,
  ): Promise<void> {
    return this.sessions.revokeOwn(principal.userId, id, client);
  }
}
