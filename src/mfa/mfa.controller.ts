import { Controller, Delete, HttpCode, Post } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Authenticated } from '../access/access.decorators.js';
import { CurrentUser } from '../access/current-user.decorator.js';
import type { Principal } from '../access/principal.js';
import { ClientInfo } from '../common/http/client-info.js';
import { ApiZodResponse, ZodBody } from '../common/openapi/zod-openapi.js';
import {
  type AnyCodeBody,
  AnyCodeSchema,
  type EnrolTotpBody,
  EnrolTotpSchema,
  type RecoveryCodes,
  RecoveryCodesSchema,
  type TotpCodeBody,
  TotpCodeSchema,
  type TotpEnrolment,
  TotpEnrolmentSchema,
} from './mfa.schemas.js';
import { MfaService } from './mfa.service.js';

/** Every /auth route is under the per-minute rate limit (RATE_LIMIT_PER_MINUTE). */
const RATE_LIMITED = 'too_many_requests';

/** The signed-in user's own second factor. */
@ApiTags('mfa')
@Controller('auth/mfa')
export class MfaController {
  constructor(private readonly mfa: MfaService) {}

  @Post('totp')
  @HttpCode(200)
  @Authenticated({
    errors: ['validation_failed', 'invalid_credentials', 'mfa_already_enabled', RATE_LIMITED],
  })
  @ApiOperation({
    summary: 'Starts setting up an authenticator app (TOTP); confirm it with a first code',
    description:
      'Needs the current password. The secret is pending (MFA stays off) until POST /auth/mfa/totp/confirm; ' +
      'asking again replaces it. RFC 6238: SHA-1, 6 digits, 30 s.',
  })
  @ApiZodResponse(200, TotpEnrolmentSchema)
  enrol(
    @CurrentUser() principal: Principal,
    @ZodBody(EnrolTotpSchema) body: EnrolTotpBody,
    @ClientInfo() client: ClientInfo,
  ): Promise<TotpEnrolment> {
    return this.mfa.enrol(principal, body, client);
  }

  @Post('totp/confirm')
  @HttpCode(200)
  @Authenticated({
    errors: ['validation_failed', 'invalid_mfa_code', 'mfa_already_enabled', 'mfa_not_pending', RATE_LIMITED],
  })
  @ApiOperation({
    summary: 'Turns MFA on with a first code; answers the recovery codes, shown this once',
    description: 'Every other session of the user ends; the current one stays.',
  })
  @ApiZodResponse(200, RecoveryCodesSchema)
  confirm(
    @CurrentUser() principal: Principal,
    @ZodBody(TotpCodeSchema) body: TotpCodeBody,
    @ClientInfo() client: ClientInfo,
  ): Promise<RecoveryCodes> {
    return this.mfa.confirm(principal, body.code, client);
  }

  @Post('recovery-codes')
  @HttpCode(200)
  @Authenticated({ errors: ['validation_failed', 'invalid_mfa_code', 'mfa_not_enabled', RATE_LIMITED] })
  @ApiOperation({
    summary: 'New recovery codes for a code of the authenticator app; the old ones stop working',
    description: 'A wrong code counts toward SIGNIN_MAX_FAILURES, as a failed signin does.',
  })
  @ApiZodResponse(200, RecoveryCodesSchema)
  regenerateRecoveryCodes(
    @CurrentUser() principal: Principal,
    @ZodBody(TotpCodeSchema) body: TotpCodeBody,
    @ClientInfo() client: ClientInfo,
  ): Promise<RecoveryCodes> {
    return this.mfa.regenerateRecoveryCodes(principal, body.code, client);
  }

  @Delete('totp')
  @HttpCode(204)
  @Authenticated({ errors: ['validation_failed', 'invalid_mfa_code', 'mfa_not_enabled', RATE_LIMITED] })
  @ApiOperation({
    summary: 'Turns MFA off, for a code of the authenticator app or a recovery code',
    description: 'A wrong code counts toward SIGNIN_MAX_FAILURES, as a failed signin does.',
  })
  @ApiResponse({ status: 204, description: 'MFA is off' })
  disable(
    @CurrentUser() principal: Principal,
    @ZodBody(AnyCodeSchema) body: AnyCodeBody,
    @ClientInfo() client: ClientInfo,
  ): Promise<void> {
    return this.mfa.disable(principal, body.code, client);
  }
}
