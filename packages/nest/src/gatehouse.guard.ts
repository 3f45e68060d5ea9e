import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { IS_PUBLIC, PRINCIPAL, REQUIRED_PERMISSIONS, REQUIRED_ROLES, REQUIRED_SCOPES } from './decorators.js';
import { GatehouseError } from './errors.js';
import { GatehouseClient } from './gatehouse.client.js';
import { GATEHOUSE_OPTIONS, type ResolvedOptions } from './options.js';
import { permissionsOf } from './policy.js';

/**
 * Every route needs a valid Gatehouse access token unless it is @Public():
 * the token verified locally (no call to Gatehouse per request), its session
 * checked against the revocation feed on every request, then @Roles(),
 * @RequirePermissions() and @RequireScopes(). While the feed has been lost
 * for longer than `failClosedAfter`, protected routes answer 503
 * `unavailable`: the kit cannot tell a revoked session from a live one.
 */
@Injectable()
export class GatehouseGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly gatehouse: GatehouseClient,
    @Inject(GATEHOUSE_OPTIONS) private readonly options: ResolvedOptions,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean | undefined>(IS_PUBLIC, targets)) return true;

    const http = context.switchToHttp();
    const request = http.getRequest<{ headers: Record<string, string | string[] | undefined> }>();
    let principal;
    try {
      principal = await this.gatehouse.authenticate(request.headers.authorization);
    } catch (error) {
      // A client may retry a 503 soon: the feed reconnects within seconds.
      if (error instanceof GatehouseError && error.code === 'unavailable') {
        const response = http.getResponse<{ header?: (name: string, value: string) => unknown }>();
        response.header?.('retry-after', '1');
      }
      throw error;
    }
    (request as unknown as Record<string, unknown>)[PRINCIPAL] = principal;

    const roles = this.reflector.getAllAndOverride<string[] | undefined>(REQUIRED_ROLES, targets);
    if (roles?.length && !roles.some((role) => principal.roles.includes(role))) throw forbidden();
    const permissions = this.reflector.getAllAndOverride<string[] | undefined>(REQUIRED_PERMISSIONS, targets);
    if (permissions?.length) {
      const granted = permissionsOf(principal.roles, this.options.rolePermissions);
      if (!permissions.every((permission) => granted.has(permission))) throw forbidden();
    }
    const scopes = this.reflector.getAllAndOverride<string[] | undefined>(REQUIRED_SCOPES, targets);
    if (scopes?.length && !scopes.every((scope) => principal.scopes?.includes(scope))) throw forbidden();
    return true;
  }
}

function forbidden(): GatehouseError {
  return new GatehouseError('forbidden', 'You do not have permission to do this');
}
