import { SetMetadata } from '@nestjs/common';
import type { Permission, Role } from './policy.js';

export const IS_PUBLIC = 'gatehouse:public';
export const REQUIRED_ROLES = 'gatehouse:roles';
export const REQUIRED_PERMISSIONS = 'gatehouse:permissions';

/** Marks a route as reachable without an access token. Every other route needs one. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC, true);

/** The caller needs at least one of these roles (checked against the user's current roles). */
export const Roles = (...roles: Role[]): MethodDecorator & ClassDecorator =>
  SetMetadata(REQUIRED_ROLES, roles);

/** The caller needs every one of these permissions, through the roles it has now. */
export const RequirePermissions = (...permissions: Permission[]): MethodDecorator & ClassDecorator =>
  SetMetadata(REQUIRED_PERMISSIONS, permissions);
