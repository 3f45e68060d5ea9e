import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Authenticated } from '../access/access.decorators.js';
import { CurrentUser } from '../access/current-user.decorator.js';
import type { Principal } from '../access/principal.js';
import { ApiZodResponse } from '../common/openapi/zod-openapi.js';
import { UserSchema, type UserView } from './user.schemas.js';
import { UsersService } from './users.service.js';

@ApiTags('users')
@Controller('users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Get('me')
  @Authenticated()
  @ApiOperation({ summary: 'The signed-in user' })
  @ApiZodResponse(200, UserSchema)
  me(@CurrentUser() principal: Principal): Promise<UserView> {
    return this.users.me(principal);
  }
}
