import { Controller, HttpCode, Post } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Authenticated } from '../access/access.decorators.js';
import { CurrentUser } from '../access/current-user.decorator.js';
import type { Principal } from '../access/principal.js';
import { ClientInfo } from '../common/http/client-info.js';
import { ApiZodResponse, ZodBody, ZodParam } from '../common/openapi/zod-openapi.js';
import {
  KeyRevocationSchema,
  type KeyRevocationView,
  KeyRotationSchema,
  type KeyRotationView,
  KidSchema,
  type RevokeKeyBody,
  RevokeKeySchema,
  RotateKeySchema,
} from './key-admin.schemas.js';
import { KeyAdminService } from './key-admin.service.js';

/** Signing keys on the running service (permission `keys:write`, role admin). */
@ApiTags('keys')
@Controller('keys')
export class KeyAdminController {
  constructor(private readonly admin: KeyAdminService) {}

  @Post('rotate')
  @Authenticated({ permission: 'keys:write', errors: ['rotation_pending'] })
  @ApiOperation({
    summary: 'Starts a staged key rotation, on every instance',
    description:
      'A new key is published in the JWKS at once and starts signing once every JWKS cache has seen it ' +
      '(JWKS_MAX_AGE and one reload interval); the old key stays published until its tokens expire. ' +
      'No one is signed out. One rotation at a time: 409 `rotation_pending` until the new key signs. Audited.',
  })
  @ApiZodResponse(201, KeyRotationSchema, 'The new key')
  rotate(
    @ZodBody(RotateKeySchema) _body: unknown,
    @CurrentUser() principal: Principal,
    @ClientInfo() client: ClientInfo,
  ): Promise<KeyRotationView> {
    return this.admin.rotate({ actorId: principal.userId, client });
  }

  @Post(':kid/revoke')
  @HttpCode(200)
  @Authenticated({ permission: 'keys:write', errors: ['validation_failed', 'not_found'] })
  @ApiOperation({
    summary: 'Revokes a compromised signing key at once, on every instance',
    description:
      'Tokens it signed are refused and it leaves the JWKS, on every instance within a second. If it was ' +
      'the key signing now, a fresh key signs in its place at once (verifiers refetch the JWKS for its ' +
      'unknown kid). Final; revoking a revoked key changes nothing. Audited.',
  })
  @ApiZodResponse(200, KeyRevocationSchema, 'Revoked (or it already was)')
  revoke(
    @ZodParam('kid', KidSchema) kid: string,
    @ZodBody(RevokeKeySchema) body: RevokeKeyBody,
    @CurrentUser() principal: Principal,
    @ClientInfo() client: ClientInfo,
  ): Promise<KeyRevocationView> {
    return this.admin.revoke(kid, { endSessions: body?.endSessions }, { actorId: principal.userId, client });
  }
}
