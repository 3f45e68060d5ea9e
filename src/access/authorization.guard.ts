import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { type Permission, permissionsOf, type Role } from './policy.js';
import { ApiError } from '../common/errors/api-error.js';
import { REQUIRED_PERMISSIONS, REQUIRED_ROLES } from './access.decorators.js';

/**
 * Global guard, after AccessTokenGuard: enforces @Roles() and
 * @RequirePermissions() against the principal's current roles.
 */
@Injectable()
export class AuthorizationGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const targets = [context.getHandler(), context.getClass()];
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(REQUIRED_ROLES, targets);
    const permissions = this.reflector.getAllAndOverride<Permission[] | undefined>(
      REQUIRED_PERMISSIONS,
      targets,
    );
    if (!roles?.length && !permissions?.length) return true;

    const principal = context.switchToHttp().getRequest<FastifyRequest>().principal;
    // A route with requirements but no principal was marked @Public() by mistake: refuse.
    if (!principal) throw forbidden();
    if (roles?.length && !roles.some((role) => principal.roles.includes(role))) throw forbidden();
    if (permissions?.length) {
      const granted = permissionsOf(principal.roles);
      if (!permissions.every((permission) => granted.has(permission))) throw forbidden();
    }
    return true;
  }
}

function forbidden(): ApiError {
  return new ApiError('forbidden', 'You do not have permission to do this');
}
