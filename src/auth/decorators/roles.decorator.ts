import { SetMetadata } from '@nestjs/common';
import type { Role } from '../../authz/policy.js';

export const REQUIRED_ROLES = 'gatehouse:roles';

/** The caller needs at least one of these roles (checked against the user's current roles). */
export const Roles = (...roles: Role[]): MethodDecorator & ClassDecorator =>
  SetMetadata(REQUIRED_ROLES, roles);
