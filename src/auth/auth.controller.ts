import { applyDecorators, Controller, Headers, HttpCode, Post } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { Authenticated, Public } from '../access/access.decorators.js';
import { CurrentUser } from '../access/current-user.decorator.js';
import type { Principal } from '../access/principal.js';
import { ClientInfo } from '../common/http/client-info.js';
import { Exchange, type HttpExchange } from '../common/http/http-exchange.js';
import {
  ApiErrors,
  ApiNoContent,
  ApiZodResponse,
  type HeaderObject,
  ZodBody,
  ZodQuery,
} from '../common/openapi/zod-openapi.js';
import {
  type AuthResult,
  AuthResultSchema,
  type ChangePasswordBody,
  type CookieModeQuery,
  ChangePasswordSchema,
  CookieModeQuerySchema,
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
import { RefreshCookies } from './refresh-cookies.js';

/** Every /auth route is under the per-minute rate limit (RATE_LIMIT_PER_MINUTE). */
const RATE_LIMITED = 'too_many_requests';

const COOKIE_NAMES = '`__Secure-gh_refresh` (`gh_refresh` when PUBLIC_URL is http on localhost)';

/** The refresh cookie of cookie mode, as a response header. */
const SET_REFRESH_COOKIE: Record<string, HeaderObject> = {
  'Set-Cookie': {
    description:
      `Cookie mode only (\`?cookie=1\`): the refresh token as ${COOKIE_NAMES}, HttpOnly, SameSite=Strict, ` +
      "Path=/auth, until the session's absolute end (SESSION_MAX_AGE after signin)",
    schema: {
      type: 'string',
      example: '__Secure-gh_refresh=gh_rt_…; HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age=2592000',
    },
  },
};

const CLEAR_REFRESH_COOKIE: Record<string, HeaderObject> = {
  'Set-Cookie': {
    description: `Clears cookie mode's refresh cookie, ${COOKIE_NAMES}`,
    required: true,
    schema: {
      type: 'string',
      example: '__Secure-gh_refresh=; HttpOnly; Secure; SameSite=Strict; Path=/auth; Max-Age=0',
    },
  },
};

/** A signout: 204, and cookie mode's cookie cleared. */
const ApiSignedOut = (description: string) =>
  applyDecorators(ApiResponse({ status: 204, description, headers: CLEAR_REFRESH_COOKIE }));

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(
    private readonly auth: AuthService,
    private readonly cookies: RefreshCookies,
  ) {}

  @Public()
  @Post('signup')
  @ApiOperation({ summary: 'Creates an account (role `user`) and signs it in' })
  @ApiZodResponse(201, AuthResultSchema, 'The new account, signed in', SET_REFRESH_COOKIE)
  @ApiErrors('validation_failed', 'email_taken', 'csrf_rejected', RATE_LIMITED, 'unavailable')
  signup(
    @ZodBody(SignupSchema) body: SignupBody,
    @ZodQuery(CookieModeQuerySchema) _query: CookieModeQuery,
    @ClientInfo() client: ClientInfo,
    @Exchange() http: HttpExchange,
  ): Promise<AuthResult> {
    return this.cookies.answer(http, () => this.auth.signup(body, client));
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
  @ApiZodResponse(
    200,
    SigninResultSchema,
    'The tokens, or an MFA challenge (which sets no cookie)',
    SET_REFRESH_COOKIE,
  )
  @ApiErrors(
    'validation_failed',
    'invalid_credentials',
    'account_disabled',
    'email_not_verified',
    'csrf_rejected',
    RATE_LIMITED,
    'unavailable',
  )
  signin(
    @ZodBody(SigninSchema) body: SigninBody,
    @ZodQuery(CookieModeQuerySchema) _query: CookieModeQuery,
    @ClientInfo() client: ClientInfo,
    @Exchange() http: HttpExchange,
  ): Promise<SigninResult> {
    return this.cookies.answer(http, () => this.auth.signin(body, client));
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
  @ApiZodResponse(200, AuthResultSchema, 'Signed in', SET_REFRESH_COOKIE)
  @ApiErrors(
    'validation_failed',
    'invalid_mfa_code',
    'invalid_mfa_token',
    'account_disabled',
    'csrf_rejected',
    RATE_LIMITED,
    'unavailable',
  )
  signinMfa(
    @ZodBody(SigninMfaSchema) body: SigninMfaBody,
    @ZodQuery(CookieModeQuerySchema) _query: CookieModeQuery,
    @ClientInfo() client: ClientInfo,
    @Exchange() http: HttpExchange,
  ): Promise<AuthResult> {
    return this.cookies.answer(http, () => this.auth.signinMfa(body, client));
  }

  @Public()
  @Post('refresh')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Exchanges a refresh token for a new access token and a new refresh token',
    description:
      'The refresh token goes in `Authorization: Bearer <refreshToken>` (then no body is needed) or in the body; ' +
      "with neither, cookie mode's cookie is used, and then the request must carry an `Origin` that is " +
      "PUBLIC_URL's or one of CORS_ORIGINS (else 403 `csrf_rejected`). A token in the header or body wins over " +
      'the cookie. Either way the answer holds a new refresh token (in the cookie with `?cookie=1`): the one ' +
      'presented is retired.',
  })
  @ApiSecurity('refreshCookie')
  @ApiSecurity('refreshToken')
  @ApiZodResponse(200, TokenPairSchema, 'A new access token and a new refresh token', SET_REFRESH_COOKIE)
  @ApiErrors(
    'validation_failed',
    'invalid_refresh_token',
    'refresh_token_reused',
    'csrf_rejected',
    RATE_LIMITED,
    'unavailable',
  )
  refresh(
    @ZodBody(RefreshSchema) body: RefreshBody,
    @ZodQuery(CookieModeQuerySchema) _query: CookieModeQuery,
    @Headers('authorization') authorization: string | undefined,
    @ClientInfo() client: ClientInfo,
    @Exchange() http: HttpExchange,
  ): Promise<TokenPair> {
    return this.cookies.answer(http, () =>
      this.auth.refresh(this.cookies.presentedRefreshToken(http, authorization, body), client),
    );
  }

  @Post('signout')
  @HttpCode(204)
  @Authenticated({ errors: [RATE_LIMITED] })
  @ApiOperation({ summary: 'Ends the current session: its refresh and access tokens stop working' })
  @ApiSignedOut('Signed out')
  signout(
    @CurrentUser() principal: Principal,
    @ClientInfo() client: ClientInfo,
    @Exchange() http: HttpExchange,
  ): Promise<void> {
    return this.cookies.clearing(http, () => this.auth.signout(principal, client));
  }

  @Post('signout/all')
  @HttpCode(204)
  @Authenticated({ errors: [RATE_LIMITED] })
  @ApiOperation({ summary: 'Ends every session of the user' })
  @ApiSignedOut('Every session ended')
  signoutAll(
    @CurrentUser() principal: Principal,
    @ClientInfo() client: ClientInfo,
    @Exchange() http: HttpExchange,
  ): Promise<void> {
    return this.cookies.clearing(http, () => this.auth.signoutAll(principal, client));
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
