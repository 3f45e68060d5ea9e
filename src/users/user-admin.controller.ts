import { Controller, Delete, Get, HttpCode, Inject, Patch, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { CurrentUser } from '../access/current-user.decorator.js';
import { RequirePermissions } from '../access/access.decorators.js';
import type { Principal } from '../access/principal.js';
import { ApiErrors, ApiZodResponse, ZodBody, ZodParam, ZodQuery } from '../common/openapi/zod-openapi.js';
import { finishPage } from '../common/pagination/keyset.js';
import { clientInfo } from '../common/http/client-info.js';
import {
  AdminUserSchema,
  type AdminUserView,
  type UpdateUserBody,
  UpdateUserSchema,
  UserIdSchema,
  UsersQuerySchema,
} from './user-admin.schemas.js';
import { type Actor, UserAdminService } from './user-admin.service.js';
import { adminUserView as view } from './user.views.js';

const AUTHENTICATED = [
  'missing_token',
  'invalid_token',
  'token_expired',
  'session_revoked',
  'forbidden',
] as const;

function actor(principal: Principal, request: FastifyRequest): Actor {
  return { id: principal.userId, client: clientInfo(request) };
}

/** Users administration; every route needs a permission of the admin role. */
@ApiTags('users')
@ApiBearerAuth()
@Controller('users')
export class UserAdminController {
  constructor(@Inject(UserAdminService) private readonly admin: UserAdminService) {}

  @Get()
  @RequirePermissions('users:read')
  @ApiOperation({
    summary: 'Users, newest first',
    description: 'Keyset pagination with `limit` (1–100) and an opaque `cursor`; the next page is in `Link`.',
  })
  @ApiZodResponse(200, z.array(AdminUserSchema))
  @ApiErrors('validation_failed', ...AUTHENTICATED)
  async list(
    @ZodQuery(UsersQuerySchema) query: z.output<typeof UsersQuerySchema>,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<AdminUserView[]> {
    const rows = await this.admin.list(query);
    return finishPage(rows, query, reply, '/users', { email: query.email }).map(view);
  }

  @Get(':id')
  @RequirePermissions('users:read')
  @ApiOperation({ summary: 'One user' })
  @ApiZodResponse(200, AdminUserSchema)
  @ApiErrors('validation_failed', 'not_found', ...AUTHENTICATED)
  async get(@ZodParam('id', UserIdSchema) id: string): Promise<AdminUserView> {
    return view(await this.admin.get(id));
  }

  @Patch(':id')
  @RequirePermissions('users:write')
  @ApiOperation({
    summary: "Changes a user's roles or disables/enables it",
    description: "Takes effect on the user's next request. Disabling also ends every session of the user.",
  })
  @ApiZodResponse(200, AdminUserSchema)
  @ApiErrors('validation_failed', 'not_found', 'last_admin', ...AUTHENTICATED)
  async update(
    @ZodParam('id', UserIdSchema) id: string,
    @ZodBody(UpdateUserSchema) body: UpdateUserBody,
    @CurrentUser() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<AdminUserView> {
    return view(await this.admin.update(id, body, actor(principal, request)));
  }

  @Delete(':id')
  @HttpCode(204)
  @RequirePermissions('users:write')
  @ApiOperation({ summary: 'Deletes a user; every session of it ends (its audit events stay)' })
  @ApiErrors('validation_failed', 'not_found', 'last_admin', ...AUTHENTICATED)
  async delete(
    @ZodParam('id', UserIdSchema) id: string,
    @CurrentUser() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<void> {
    await this.admin.delete(id, actor(principal, request));
  }

  @Delete(':id/sessions')
  @HttpCode(204)
  @RequirePermissions('sessions:revoke')
  @ApiOperation({ summary: 'Signs a user out everywhere' })
  @ApiErrors('validation_failed', 'not_found', ...AUTHENTICATED)
  async endSessions(
    @ZodParam('id', UserIdSchema) id: string,
    @CurrentUser() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<void> {
    await this.admin.endSessions(id, actor(principal, request));
  }
}
