import { Controller, Delete, Get, HttpCode, Patch, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { Authenticated } from '../access/access.decorators.js';
import { CurrentUser } from '../access/current-user.decorator.js';
import type { Principal } from '../access/principal.js';
import { ClientInfo } from '../common/http/client-info.js';
import { ApiNoContent, ApiZodResponse, ZodBody, ZodParam, ZodQuery } from '../common/openapi/zod-openapi.js';
import { ApiPage, finishPage } from '../common/pagination/keyset.js';
import {
  AdminUserSchema,
  type AdminUserView,
  type UpdateUserBody,
  UpdateUserSchema,
  UserIdSchema,
  UsersQuerySchema,
} from './user-admin.schemas.js';
import { UserAdminService } from './user-admin.service.js';

/** Users administration; every route needs a permission of the admin role. */
@ApiTags('users')
@Controller('users')
export class UserAdminController {
  constructor(private readonly admin: UserAdminService) {}

  @Get()
  @Authenticated({ permission: 'users:read', errors: ['validation_failed'] })
  @ApiOperation({
    summary: 'Users, newest first',
    description: 'Keyset pagination with `limit` (1–100) and an opaque `cursor`; the next page is in `Link`.',
  })
  @ApiPage(AdminUserSchema)
  async list(
    @ZodQuery(UsersQuerySchema) query: z.output<typeof UsersQuerySchema>,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<AdminUserView[]> {
    return finishPage(await this.admin.list(query), query, reply, '/users', { email: query.email });
  }

  @Get(':id')
  @Authenticated({ permission: 'users:read', errors: ['validation_failed', 'not_found'] })
  @ApiOperation({ summary: 'One user' })
  @ApiZodResponse(200, AdminUserSchema)
  get(@ZodParam('id', UserIdSchema) id: string): Promise<AdminUserView> {
    return this.admin.get(id);
  }

  @Patch(':id')
  @Authenticated({ permission: 'users:write', errors: ['validation_failed', 'not_found', 'last_admin'] })
  @ApiOperation({
    summary: "Changes a user's roles or disables/enables it",
    description: "Takes effect on the user's next request. Disabling also ends every session of the user.",
  })
  @ApiZodResponse(200, AdminUserSchema)
  update(
    @ZodParam('id', UserIdSchema) id: string,
    @ZodBody(UpdateUserSchema) body: UpdateUserBody,
    @CurrentUser() principal: Principal,
    @ClientInfo() client: ClientInfo,
  ): Promise<AdminUserView> {
    return this.admin.update(id, body, principal, client);
  }

  @Delete(':id')
  @HttpCode(204)
  @Authenticated({ permission: 'users:write', errors: ['validation_failed', 'not_found', 'last_admin'] })
  @ApiOperation({ summary: 'Deletes a user; every session of it ends (its audit events stay)' })
  @ApiNoContent('Deleted')
  delete(
    @ZodParam('id', UserIdSchema) id: string,
    @CurrentUser() principal: Principal,
    @ClientInfo() client: ClientInfo,
  ): Promise<void> {
    return this.admin.delete(id, principal, client);
  }

  @Delete(':id/sessions')
  @HttpCode(204)
  @Authenticated({ permission: 'sessions:revoke', errors: ['validation_failed', 'not_found'] })
  @ApiOperation({ summary: 'Signs a user out everywhere' })
  @ApiNoContent('Every session of the user ended')
  endSessions(
    @ZodParam('id', UserIdSchema) id: string,
    @CurrentUser() principal: Principal,
    @ClientInfo() client: ClientInfo,
  ): Promise<void> {
    return this.admin.endSessions(id, principal, client);
  }
}
