import { Controller, Headers, HttpCode, Inject, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../common/errors/api-error.js';
import { ApiErrors, ApiZodResponse, ZodBody } from '../common/openapi/zod-openapi.js';
import { clientInfo } from '../common/http/client-info.js';
import {
  type AuthResult,
  AuthResultSchema,
  type ChangePasswordBody,
  ChangePasswordSchema,
  type RefreshBody,
  RefreshSchema,
  type SigninBody,
  SigninSchema,
  type SignupBody,
  SignupSchema,
  type TokenPair,
  TokenPairSchema,
} from './auth.schemas.js';
import { AuthService } from './auth.service.js';
import { bearerToken } from '../access/bearer-token.js';
import { CurrentUser } from '../access/current-user.decorator.js';
import { Public } from '../access/access.decorators.js';
import type { Principal } from '../access/principal.js';

const AUTHENTICATED = ['missing_token', 'invalid_token', 'token_expired', 'session_revoked'] as const;
/** Every /auth route is under the per-minute rate limit (RATE_LIMIT_PER_MINUTE). */
const RATE_LIMITED = 'too_many_requests';

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(@Inject(AuthService) private readonly auth: AuthService) {}

  @Public()
  @Post('signup')
  @ApiOperation({ summary: 'Creates an account (role `user`) and signs it in' })
  @ApiZodResponse(201, AuthResultSchema)
  @ApiErrors('validation_failed', 'email_taken', 'payload_too_large', 'unsupported_media_type', RATE_LIMITED)
  signup(@ZodBody(SignupSchema) body: SignupBody, @Req() request: FastifyRequest): Promise<AuthResult> {
    return this.auth.signup(body, clientInfo(request));
  }

  @Public()
  @Post('signin')
  @HttpCode(200)
  @ApiOperation({ summary: 'Signs in with email and password; opens a new session' })
  @ApiZodResponse(200, AuthResultSchema)
  @ApiErrors('validation_failed', 'invalid_credentials', 'account_disabled', 'too_many_requests')
  signin(@ZodBody(SigninSchema) body: SigninBody, @Req() request: FastifyRequest): Promise<AuthResult> {
    return this.auth.signin(body, clientInfo(request));
  }

  @Public()
  @Post('refresh')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Exchanges a refresh token for a new access token and a new refresh token',
    description: 'The refresh token goes in `Authorization: Bearer <refreshToken>` or in the body.',
  })
  @ApiZodResponse(200, TokenPairSchema)
  @ApiErrors('validation_failed', 'invalid_refresh_token', 'refresh_token_reused', RATE_LIMITED)
  refresh(
    @ZodBody(RefreshSchema) body: RefreshBody,
    @Headers('authorization') authorization: string | undefined,
    @Req() request: FastifyRequest,
  ): Promise<TokenPair> {
    const fromHeader = bearerToken(authorization);
    const fromBody = body?.refreshToken;
    if (fromHeader && fromBody && fromHeader !== fromBody) {
      throw ApiError.validation([
        { field: 'refreshToken', message: 'differs from the Authorization header' },
      ]);
    }
    const token = fromHeader ?? fromBody;
    if (!token) {
      throw ApiError.validation([
        { field: 'refreshToken', message: 'is required (body or Authorization header)' },
      ]);
    }
    return this.auth.refresh(token, clientInfo(request));
  }

  @Post('signout')
  @HttpCode(204)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Ends the current session: its refresh and access tokens stop working' })
  @ApiErrors(...AUTHENTICATED, RATE_LIMITED)
  signout(@CurrentUser() principal: Principal, @Req() request: FastifyRequest): Promise<void> {
    return this.auth.signout(principal, clientInfo(request));
  }

  @Post('signout/all')
  @HttpCode(204)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Ends every session of the user' })
  @ApiErrors(...AUTHENTICATED, RATE_LIMITED)
  signoutAll(@CurrentUser() principal: Principal, @Req() request: FastifyRequest): Promise<void> {
    return this.auth.signoutAll(principal, clientInfo(request));
  }

  @Post('password')
  @HttpCode(204)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Changes the password; every other session is revoked' })
  @ApiErrors('validation_failed', 'invalid_credentials', ...AUTHENTICATED, RATE_LIMITED)
  changePassword(
    @CurrentUser() principal: Principal,
    @ZodBody(ChangePasswordSchema) body: ChangePasswordBody,
    @Req() request: FastifyRequest,
  ): Promise<void> {
    return this.auth.changePassword(principal, body, clientInfo(request));
  }
}
