import { createParamDecorator, type ExecutionContext, SetMetadata } from '@nestjs/common';
import type { GatehousePrincipal } from './principal.js';

export const IS_PUBLIC = 'gatehouse-kit:public';
export const REQUIRED_ROLES = 'gatehouse-kit:roles';
export const REQUIRED_PERMISSIONS = 'gatehouse-kit:permissions';
export const REQUIRED_SCOPES = 'gatehouse-kit:scopes';

/** Marks a route (or a controller) as reachable without an access token. Every other route needs one. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC, true);

/** The caller needs at least one of these roles (a user's token; a service client has none). */
export const Roles = (...roles: string[]): MethodDecorator & ClassDecorator =>
  SetMetadata(REQUIRED_ROLES, roles);

/** The caller needs every one of these permissions, through its roles (see `rolePermissions`). */
export const RequirePermissions = (...permissions: string[]): MethodDecorator & ClassDecorator =>
  SetMetadata(REQUIRED_PERMISSIONS, permissions);

/** The caller is a service client granted every one of these scopes. */
export const RequireScopes = (...scopes: string[]): MethodDecorator & ClassDecorator =>
  SetMetadata(REQUIRED_SCOPES, scopes);

/** Where the guard puts the principal on the request (Express's and Fastify's alike). */
export const PRINCIPAL = 'gatehouse';

/** The caller, from its verified token. Only on routes that are not @Public(). */
export const CurrentUser = createParamDecorator(
  (_data: unknown, context: ExecutionContext): GatehousePrincipal => {
    const principal = principalOf(context.switchToHttp().getRequest());
    if (!principal) throw new Error('@CurrentUser() used on a route without authentication (@Public()?)');
    return principal;
  },
);

/** The principal the guard set on a request, if any. */
export function principalOf(request: unknown): GatehousePrincipal | undefined {
  return (request as Record<string, GatehousePrincipal | undefined>)[PRINCIPAL];
}
