import { Controller, Get, Inject } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentUser } from '../access/current-user.decorator.js';
import type { Principal } from '../access/principal.js';
import { ApiError } from '../common/errors/api-error.js';
import { ApiErrors, ApiZodResponse } from '../common/openapi/zod-openapi.js';
import { UserSchema, type UserView } from './user.schemas.js';
import { AuthStateService } from '../sessions/auth-state.service.js';

@ApiTags('users')
@ApiBearerAuth()
@Controller('users')
export class UsersController {
  constructor(@Inject(AuthStateService) private readonly authState: AuthStateService) {}

  @Get('me')
  @ApiOperation({ summary: 'The signed-in user' })
  @ApiZodResponse(200, UserSchema)
  @ApiErrors('missing_token', 'invalid_token', 'token_expired', 'session_revoked')
  async me(@CurrentUser() principal: Principal): Promise<UserView> {
    // The guard has just loaded this state (from memory on the warm path): no query here.
    const state = await this.authState.get(principal.sessionId);
    if (!state?.active) throw new ApiError('session_revoked', 'Session is no longer valid; sign in again');
    return {
      id: state.userId,
      email: state.email,
      roles: state.roles,
      createdAt: state.createdAt.toISOString(),
      updatedAt: state.updatedAt.toISOString(),
    };
  }
}
