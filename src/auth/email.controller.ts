import { Controller, HttpCode, Post } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Authenticated, Public } from '../access/access.decorators.js';
import { CurrentUser } from '../access/current-user.decorator.js';
import type { Principal } from '../access/principal.js';
import { ClientInfo } from '../common/http/client-info.js';
import { ApiErrors, ZodBody } from '../common/openapi/zod-openapi.js';
import {
  type ChangeEmailBody,
  ChangeEmailSchema,
  type ForgotPasswordBody,
  ForgotPasswordSchema,
  type LinkTokenBody,
  LinkTokenBodySchema,
  type ResetPasswordBody,
  ResetPasswordSchema,
} from './email.schemas.js';
import { EmailFlowsService } from './email-flows.service.js';

/** Every /auth route is under the per-minute rate limit (RATE_LIMIT_PER_MINUTE). */
const RATE_LIMITED = 'too_many_requests';
const QUEUED = 'Accepted: the mail is queued (unless MAIL_PER_ADDRESS_PER_HOUR is reached)';

/** The flows through the user's mailbox: verify the email, reset a password, change the email. */
@ApiTags('auth')
@Controller('auth')
export class EmailController {
  constructor(private readonly flows: EmailFlowsService) {}

  @Post('email/verify')
  @HttpCode(202)
  @Authenticated({ errors: ['already_verified', RATE_LIMITED] })
  @ApiOperation({ summary: 'Mails a new verification link to the account’s address' })
  @ApiResponse({ status: 202, description: QUEUED })
  requestVerification(@CurrentUser() principal: Principal, @ClientInfo() client: ClientInfo): Promise<void> {
    return this.flows.requestVerification(principal, client);
  }

  @Public()
  @Post('email/verify/confirm')
  @HttpCode(204)
  @ApiOperation({ summary: 'Verifies the email with the token of a verification link' })
  @ApiResponse({ status: 204, description: 'The email is verified' })
  @ApiErrors('validation_failed', 'invalid_link_token', RATE_LIMITED, 'unavailable')
  confirmVerification(
    @ZodBody(LinkTokenBodySchema) body: LinkTokenBody,
    @ClientInfo() client: ClientInfo,
  ): Promise<void> {
    return this.flows.confirmVerification(body.token, client);
  }

  @Public()
  @Post('password/forgot')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Mails a password reset link, if the address has an enabled account',
    description: 'The answer is the same whether or not an account exists: it never tells.',
  })
  @ApiResponse({ status: 202, description: 'Accepted (whether or not the address has an account)' })
  @ApiErrors('validation_failed', RATE_LIMITED, 'unavailable')
  forgotPassword(
    @ZodBody(ForgotPasswordSchema) body: ForgotPasswordBody,
    @ClientInfo() client: ClientInfo,
  ): Promise<void> {
    return this.flows.forgotPassword(body.email, client);
  }

  @Public()
  @Post('password/reset')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Sets a new password with the token of a reset link',
    description: 'Every session of the user ends and a notice is mailed. It signs nobody in.',
  })
  @ApiResponse({ status: 204, description: 'The password is set' })
  @ApiErrors('validation_failed', 'invalid_link_token', RATE_LIMITED, 'unavailable')
  resetPassword(
    @ZodBody(ResetPasswordSchema) body: ResetPasswordBody,
    @ClientInfo() client: ClientInfo,
  ): Promise<void> {
    return this.flows.resetPassword(body, client);
  }

  @Post('email')
  @HttpCode(202)
  @Authenticated({ errors: ['validation_failed', 'invalid_credentials', 'email_taken', RATE_LIMITED] })
  @ApiOperation({
    summary: 'Asks to change the email: a link to the new address, a notice to the current one',
    description: 'Nothing changes until the link is used (`POST /auth/email/confirm`).',
  })
  @ApiResponse({ status: 202, description: QUEUED })
  requestEmailChange(
    @CurrentUser() principal: Principal,
    @ZodBody(ChangeEmailSchema) body: ChangeEmailBody,
    @ClientInfo() client: ClientInfo,
  ): Promise<void> {
    return this.flows.requestEmailChange(principal, body, client);
  }

  @Public()
  @Post('email/confirm')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Changes the email with the token of an email-change link',
    description: 'The new address is verified; every session of the user ends.',
  })
  @ApiResponse({ status: 204, description: 'The email is changed' })
  @ApiErrors('validation_failed', 'invalid_link_token', 'email_taken', RATE_LIMITED, 'unavailable')
  confirmEmailChange(
    @ZodBody(LinkTokenBodySchema) body: LinkTokenBody,
    @ClientInfo() client: ClientInfo,
  ): Promise<void> {
    return this.flows.confirmEmailChange(body.token, client);
  }
}
