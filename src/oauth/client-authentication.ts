import {
  type CanActivate,
  createParamDecorator,
  type ExecutionContext,
  Injectable,
  SetMetadata,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../common/errors/api-error.js';
import type { GatehouseScope } from '../clients/client.schemas.js';
import { type AuthenticatedClient, ClientsService } from '../clients/clients.service.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The service client that authenticated (the /oauth routes). */
    serviceClient?: AuthenticatedClient;
  }
}

const REQUIRED_CLIENT_SCOPE = 'gatehouse:client-scope';

/** The scope the authenticated client must have been given for this route (`insufficient_scope` otherwise). */
export const RequireClientScope = (scope: GatehouseScope): MethodDecorator =>
  SetMetadata(REQUIRED_CLIENT_SCOPE, scope);

/** `@ServiceClient() client: AuthenticatedClient` — the client ClientAuthGuard authenticated. */
export const ServiceClient = createParamDecorator((_data: unknown, context: ExecutionContext) => {
  const client = context.switchToHttp().getRequest<FastifyRequest>().serviceClient;
  if (!client) throw new Error('@ServiceClient() used on a route without ClientAuthGuard');
  return client;
});

export const WWW_AUTHENTICATE_BASIC = 'Basic realm="gatehouse", charset="UTF-8"';

function invalidClient(message = 'Client authentication failed'): ApiError {
  return new ApiError('invalid_client', message, undefined, { 'WWW-Authenticate': WWW_AUTHENTICATE_BASIC });
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic joins and encodes them. */
function formDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}

/** The id and secret of `Authorization: Basic …`; undefined for another scheme; throws when malformed. */
export function basicCredentials(header: string): { id: string; secret: string } | undefined {
  const match = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header);
  if (!match) {
    if (/^Basic(\s|$)/i.test(header)) throw invalidClient('Malformed Basic credentials');
    return undefined;
  }
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw invalidClient('Malformed Basic credentials');
  const id = formDecode(decoded.slice(0, colon));
  const secret = formDecode(decoded.slice(colon + 1));
  if (id === undefined || secret === undefined) throw invalidClient('Malformed Basic credentials');
  return { id, secret };
}

/**
 * Client authentication for the /oauth routes (which are @Public(): no user token): HTTP Basic
 * (client_secret_basic) or, on a form body, `client_id` + `client_secret` (client_secret_post) —
 * one method per request. A user's access token, another scheme, a wrong id or secret, a deleted
 * client: 401 `invalid_client`. Then the route's required scope (`insufficient_scope`, 403).
 */
@Injectable()
export class ClientAuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly clients: ClientsService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const header = request.headers.authorization;
    const body = request.body as Record<string, unknown> | undefined;
    const postId = body && typeof body === 'object' ? body.client_id : undefined;
    const postSecret = body && typeof body === 'object' ? body.client_secret : undefined;
    const posted = postId !== undefined || postSecret !== undefined;

    let credentials: { id: string; secret: string } | undefined;
    if (header !== undefined) {
      if (posted) {
        throw new ApiError('invalid_request', 'Use one client authentication method, not two');
      }
      credentials = basicCredentials(header);
      if (!credentials) throw invalidClient('Client authentication must be HTTP Basic');
    } else if (posted) {
      if (typeof postId !== 'string' || typeof postSecret !== 'string') {
        throw invalidClient('client_id and client_secret must both be given, once');
      }
      credentials = { id: postId, secret: postSecret };
    } else {
      throw invalidClient('Client authentication is required');
    }

    const client = await this.clients.authenticate(credentials.id, credentials.secret);
    if (!client) throw invalidClient();
    const scope = this.reflector.get<GatehouseScope | undefined>(REQUIRED_CLIENT_SCOPE, context.getHandler());
    if (scope && !client.scopes.includes(scope)) {
      throw new ApiError('insufficient_scope', `This client was not given the scope "${scope}"`);
    }
    request.serviceClient = client;
    return true;
  }
}
