import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { RequirePermissions } from '../access/access.decorators.js';
import { ApiErrors, ApiZodResponse, ZodQuery } from '../common/openapi/zod-openapi.js';
import { finishPage } from '../common/pagination/keyset.js';
import { AuditEventSchema, type AuditEventView, AuditQuerySchema } from './audit.schemas.js';
import { AuditService } from './audit.service.js';

@ApiTags('audit')
@ApiBearerAuth()
@Controller('audit-events')
export class AuditController {
  constructor(@Inject(AuditService) private readonly audit: AuditService) {}

  @Get()
  @RequirePermissions('audit:read')
  @ApiOperation({
    summary: 'Security events, newest first',
    description: 'Paginated with `limit` and an opaque `cursor`; the next page is in the `Link` header.',
  })
  @ApiZodResponse(200, z.array(AuditEventSchema))
  @ApiErrors(
    'validation_failed',
    'missing_token',
    'invalid_token',
    'token_expired',
    'session_revoked',
    'forbidden',
  )
  async list(
    @ZodQuery(AuditQuerySchema) query: z.output<typeof AuditQuerySchema>,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<AuditEventView[]> {
    const rows = finishPage(await this.audit.list(query), query, reply, '/audit-events', {
      userId: query.userId,
      type: query.type,
    });
    return rows.map((row) => ({ ...row, createdAt: row.createdAt.toISOString() }));
  }
}
