import { SetMetadata } from '@nestjs/common';
import type { Permission } from '../../authz/policy.js';

export const REQUIRED_PERMISSIONS = 'gatehouse:permissions';

/** The caller needs every one of these permissions, through the roles it has now. */
export const RequirePermissions = (...permissions: Permission[]): MethodDecorator & ClassDecorator =>
  SetMetadata(REQUIRED_PERMISSIONS, permissions);
