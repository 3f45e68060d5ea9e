import { Controller, Get } from '@nestjs/common';
import { CurrentUser, type GatehousePrincipal, Public, RequireScopes, Roles } from '@gatehouse/nest';

/** The example's routes: one public, one for any signed-in user, one for admins, one for service clients. */
@Controller()
export class AppController {
  @Public()
  @Get('hello')
  hello(): { message: string } {
    return { message: 'Hello from a resource server protected by Gatehouse' };
  }

  /** Who is calling, as the kit verified it. */
  @Get('me')
  me(@CurrentUser() principal: GatehousePrincipal): GatehousePrincipal {
    return principal;
  }

  @Roles('admin')
  @Get('reports')
  reports(@CurrentUser() principal: GatehousePrincipal): { reports: string[]; for: string } {
    return { reports: ['sales-2030-q1', 'sales-2030-q2'], for: principal.userId };
  }

  /** For service clients (client-credentials tokens) granted the `inventory:read` scope. */
  @RequireScopes('inventory:read')
  @Get('inventory')
  inventory(@CurrentUser() principal: GatehousePrincipal): { items: number; client: string | undefined } {
    return { items: 42, client: principal.clientId };
  }
}
