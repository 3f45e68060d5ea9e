import { Controller, Headers, HttpCode, Post } from '@nestjs/common';
import { ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { Authenticated, Public } from '../access/access.decorators.js';
import { CurrentUser } from '../access/current-user.decorator.js';
import type { Principal } from '../access/principal.js';
import { ClientInfo } from '../common/http/client-info.js';
import { ApiErrors, ApiNoContent, ApiZodResponse, ZodBody } from '../common/openapi/zod-openapi.js';
import {
  type AuthResult,
  AuthResultSchema,
  type ChangePasswordBody,
  ChangePasswordSchema,
  presentedRefreshToken,
  type RefreshBody,
  RefreshSchema,
  type SigninBody,
  type SigninResult,
  SigninResultSchema,
  SigninSchema,
  type SignupBody,
  SignupSchema,
  type TokenPair,
  TokenPairSchema,
} from './auth.schemas.js';
import { AuthService } from './auth.service.js';
import { type SigninMfaBody, SigninMfaSchema } from '../mfa/mfa.schemas.js';

/** Every /auth route is under the per-minute rate limit (RATE_LIMIT_PER_MINUTE). */
const RATE_LIMITED = 'too_many_requests';

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Public()
  @Post('signup')
  @ApiOperation({ summary: 'Creates an account (role `user`) and signs it in' })
  @ApiZodResponse(201, AuthResultSchema, 'The new account, signed in')
  @ApiErrors('validation_failed', 'email_taken', RATE_LIMITED, 'unavailable')
  signup(@ZodBody(SignupSchema) body: SignupBody, @ClientInfo() client: ClientInfo): Promise<AuthResult> {
    return this.auth.signup(body, client);
  }

  @Public()
  @Post('signin')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Signs in with email and password; opens a new session',
    description:
      'Two shapes of 200: the tokens; or, when the account has MFA on, `{ mfaRequired: true, mfaToken, methods }` ' +
      'and no tokens — the signin ends with POST /auth/signin/mfa.',
  })
  @ApiZodResponse(200, SigninResultSchema, 'The tokens, or an MFA challenge')
  @ApiErrors(
    'validation_failed',
    'invalid_credentials',
    'account_disabled',
    'email_not_verified',
    RATE_LIMITED,
    'unavailable',
  )
  signin(@ZodBody(SigninSchema) body: SigninBody, @ClientInfo() client: ClientInfo): Promise<SigninResult> {
    return this.auth.signin(body, client);
  }

  @Public()
  @Post('signin/mfa')
  @HttpCode(200)
  @ApiOperation({
    summary: "Completes a signin with MFA: the password step's mfaToken and a second factor",
    description:
      'Give `code` (the authenticator app) or `recoveryCode` (single use). A wrong code answers ' +
      '`invalid_mfa_code` and counts toward SIGNIN_MAX_FAILURES; after 5, or 5 minutes after the password ' +
      'step, the mfaToken is dead (`invalid_mfa_token`): sign in again.',
  })
  @ApiZodResponse(200, AuthResultSchema)
  @ApiErrors(
    'validation_failed',
    'invalid_mfa_code',
    'invalid_mfa_token',
    'account_disabled',
    RATE_LIMITED,
    'unavailable',
  )
  signinMfa(
    @ZodBody(SigninMfaSchema) body: SigninMfaBody,
    @ClientInfo() client: ClientInfo,
  ): Promise<AuthResult> {
    return this.auth.signinMfa(body, client);
  }

  @Public()
  @Post('refresh')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Exchanges a refresh token for a new access token and a new refresh token',
    description:
      'The refresh token goes in `Authorization: Bearer <refreshToken>` (then no body is needed) or in the body. ' +
      'Either way the answer holds a new refresh token: the one presented is retired.',
  })
  @ApiSecurity('refreshToken')
  @ApiZodResponse(200, TokenPairSchema, 'A new access token and a new refresh token')
  @ApiErrors(
    'validation_failed',
    'invalid_refresh_token',
    'refresh_token_reused',
    RATE_LIMITED,
    'unavailable',
  )
  refresh(
    @ZodBody(RefreshSchema) body: RefreshBody,
    @Headers('authorization') authorization: string | undefined,
    @ClientInfo() client: ClientInfo,
  ): Promise<TokenPair> {
    return this.auth.refresh(presentedRefreshToken(authorization, body), client);
  }

  @Post('signout')
  @HttpCode(204)
  @Authenticated({ errors: [RATE_LIMITED] })
  @ApiOperation({ summary: 'Ends the current session: its refresh and access tokens stop working' })
  @ApiNoContent('Signed out')
  signout(@CurrentUser() principal: Principal, @ClientInfo() client: ClientInfo): Promise<void> {
    return this.auth.signout(principal, client);
  }

  @Post('signout/all')
  @HttpCode(204)
  @Authenticated({ errors: [RATE_LIMITED] })
  @ApiOperation({ summary: 'Ends every session of the user' })
  @ApiNoContent('Every session ended')
  signoutAll(@CurrentUser() principal: Principal, @ClientInfo() client: ClientInfo): Promise<void> {
    return this.auth.signoutAll(principal, client);
  }

  @Post('password')
  @HttpCode(204)
  @Authenticated({ errors: ['validation_failed', 'invalid_credentials', RATE_LIMITED] })
  @ApiOperation({ summary: 'Changes the password; every other session is revoked' })
  @ApiNoContent('Password changed; the current session stays')
  changePassword(
    @CurrentUser() principal: Principal,
    @ZodBody(ChangePasswordSchema) body: ChangePasswordBody,
    @ClientInfo() client: ClientInfo,
  ): Promise<void> {
    return this.auth.changePassword(principal, body, client);
  }
}
