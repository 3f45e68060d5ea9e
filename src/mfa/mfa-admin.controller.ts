import { Controller, Delete, HttpCode } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Authenticated } from '../access/access.decorators.js';
import { CurrentUser } from '../access/current-user.decorator.js';
import type { Principal } from '../access/principal.js';
import { ClientInfo } from '../common/http/client-info.js';
import { ZodParam } from '../common/openapi/zod-openapi.js';
import { UserIdSchema } from '../users/user-admin.schemas.js';
import { MfaService } from './mfa.service.js';

/** Administration of users' second factors. */
@ApiTags('users')
@Controller('users')
export class MfaAdminController {
  constructor(private readonly mfa: MfaService) {}

  @Delete(':id/mfa')
  @HttpCode(204)
  @Authenticated({ permission: 'users:write', errors: ['validation_failed', 'not_found', 'mfa_not_enabled'] })
  @ApiOperation({
    summary: "Removes a user's MFA (a lost device); every session of the user ends",
    description: 'The user signs in with the password alone afterwards, and may set up MFA again.',
  })
  @ApiResponse({ status: 204, description: "The user's MFA is removed and every session of it ended" })
  reset(
    @ZodParam('id', UserIdSchema) id: string,
    @CurrentUser() principal: Principal,
    @ClientInfo() client: ClientInfo,
  ): Promise<void> {
    return this.mfa.reset(id, principal, client);
  }
}
