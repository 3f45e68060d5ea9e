import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth, ApiExtension } from '@nestjs/swagger';
import type { ErrorCode } from '../common/errors/error-codes.js';
import { ApiErrors, PUBLIC_OPERATION } from '../common/openapi/zod-openapi.js';
import type { Permission, Role } from './policy.js';

export const IS_PUBLIC = 'gatehouse:public';
export const REQUIRED_ROLES = 'gatehouse:roles';
export const REQUIRED_PERMISSIONS = 'gatehouse:permissions';

/**
 * Marks a route as reachable without an access token (and says so in the
 * OpenAPI document: `security: []`). Every other route needs one.
 */
export const Public = (): MethodDecorator & ClassDecorator =>
  applyDecorators(SetMetadata(IS_PUBLIC, true), ApiExtension(PUBLIC_OPERATION, true));

/** The caller needs at least one of these roles (checked against the user's current roles). */
export const Roles = (...roles: Role[]): MethodDecorator & ClassDecorator =>
  SetMetadata(REQUIRED_ROLES, roles);

/** The caller needs every one of these permissions, through the roles it has now. */
export const RequirePermissions = (...permissions: Permission[]): MethodDecorator & ClassDecorator =>
  SetMetadata(REQUIRED_PERMISSIONS, permissions);

/**
 * What AccessTokenGuard answers on any route that is not @Public(): the four
 * refusals, and 503 when the session's state must be read from a database
 * that is down.
 */
const AUTHENTICATION_ERRORS = [
  'missing_token',
  'invalid_token',
  'token_expired',
  'session_revoked',
  'unavailable',
] as const;

export interface AuthenticatedOptions {
  /** The permission the caller needs; without one, being signed in is enough. */
  permission?: Permission;
  /** The route's own errors (validation, not found, rate limit, …), documented with the guards'. */
  errors?: ErrorCode[];
}

/**
 * A route for signed-in callers, declared in one place: the permission it
 * needs (enforced by AuthorizationGuard), the bearer requirement in the
 * OpenAPI document, and every error response — the route's own, the four of
 * authentication, and `forbidden` when a permission is required.
 * Authentication itself needs no marker: every route not @Public() has it.
 */
export function Authenticated(options: AuthenticatedOptions = {}): MethodDecorator {
  const { permission, errors = [] } = options;
  return applyDecorators(
    ApiBearerAuth(),
    ...(permission ? [RequirePermissions(permission)] : []),
    ApiErrors(...errors, ...AUTHENTICATION_ERRORS, ...(permission ? (['forbidden'] as const) : [])),
  );
}
