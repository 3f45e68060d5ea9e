import { Controller, Get, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { Authenticated } from '../access/access.decorators.js';
import { ZodQuery } from '../common/openapi/zod-openapi.js';
import { ApiPage, finishPage } from '../common/pagination/keyset.js';
import { AuditEventSchema, type AuditEventView, AuditQuerySchema } from './audit.schemas.js';
import { AuditService } from './audit.service.js';

@ApiTags('audit')
@Controller('audit-events')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @Authenticated({ permission: 'audit:read', errors: ['validation_failed'] })
  @ApiOperation({
    summary: 'Security events, newest first',
    description: 'Paginated with `limit` and an opaque `cursor`; the next page is in the `Link` header.',
  })
  @ApiPage(AuditEventSchema)
  async list(
    @ZodQuery(AuditQuerySchema) query: z.output<typeof AuditQuerySchema>,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<AuditEventView[]> {
    return finishPage(await this.audit.list(query), query, reply, '/audit-events', {
      userId: query.userId,
      type: query.type,
    });
  }
}
