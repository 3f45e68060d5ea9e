import { Controller, Delete, Get, HttpCode, Inject, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { CurrentUser } from '../access/current-user.decorator.js';
import type { Principal } from '../access/principal.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { ApiError } from '../common/errors/api-error.js';
import { ApiErrors, ApiZodResponse, ZodParam } from '../common/openapi/zod-openapi.js';
import { clientInfo } from '../common/http/client-info.js';
import { SessionIdSchema, type SessionView, SessionViewSchema } from './session.schemas.js';
import { SessionsService } from './sessions.service.js';

@ApiTags('sessions')
@ApiBearerAuth()
@Controller('auth/sessions')
export class SessionsController {
  constructor(
    @Inject(SessionsService) private readonly sessions: SessionsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @ApiOperation({ summary: "The caller's active sessions (one per signin)" })
  @ApiZodResponse(200, z.array(SessionViewSchema))
  @ApiErrors('missing_token', 'invalid_token', 'token_expired', 'session_revoked', 'too_many_requests')
  async list(@CurrentUser() principal: Principal): Promise<SessionView[]> {
    const idleMs = this.config.session.idleTimeout * 1000;
    const sessions = await this.sessions.listActive(principal.userId);
    return sessions.map((session) => ({
      id: session.id,
      createdAt: session.createdAt.toISOString(),
      lastUsedAt: session.lastUsedAt.toISOString(),
      expiresAt: new Date(
        Math.min(session.expiresAt.getTime(), session.lastUsedAt.getTime() + idleMs),
      ).toISOString(),
      userAgent: session.userAgent,
      ip: session.ip,
      current: session.id === principal.sessionId,
    }));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: "Revokes one of the caller's sessions" })
  @ApiErrors(
    'validation_failed',
    'missing_token',
    'invalid_token',
    'token_expired',
    'session_revoked',
    'not_found',
    'too_many_requests', // under /auth: the per-minute limit applies
  )
  async revoke(
    @CurrentUser() principal: Principal,
    @ZodParam('id', SessionIdSchema) id: string,
    @Req() request: FastifyRequest,
  ): Promise<void> {
    // Another user's session id is indistinguishable from an unknown one.
    if (!(await this.sessions.revokeOwn(principal.userId, id, clientInfo(request)))) {
      throw new ApiError('not_found', 'Session not found');
    }
  }
}
