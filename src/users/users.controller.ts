import { Controller, Get, Inject } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentUser } from '../auth/decorators/current-user.decorator.js';
import type { Principal } from '../auth/principal.js';
import { ApiError } from '../common/errors/api-error.js';
import { ApiErrors, ApiZodResponse } from '../common/openapi/zod-openapi.js';
import { UserSchema, type UserView } from './user.schemas.js';
import { UsersService } from './users.service.js';

@ApiTags('users')
@ApiBearerAuth()
@Controller('users')
export class UsersController {
  constructor(@Inject(UsersService) private readonly users: UsersService) {}

  @Get('me')
  @ApiOperation({ summary: 'The signed-in user' })
  @ApiZodResponse(200, UserSchema)
  @ApiErrors('missing_token', 'invalid_token', 'token_expired', 'session_revoked')
  async me(@CurrentUser() principal: Principal): Promise<UserView> {
    const user = await this.users.findById(principal.userId);
    // The guard saw the session alive a moment ago; a concurrent delete can still win.
    if (!user) throw new ApiError('session_revoked', 'Session is no longer valid');
    return UsersService.view(user);
  }
}
