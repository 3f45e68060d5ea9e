import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../common/errors/api-error.js';
import { AuthStateService } from '../sessions/auth-state.service.js';
import { TokenError } from '../keys/access-token.js';
import { AccessTokenService } from '../keys/access-token.service.js';
import { bearerToken } from '../access/bearer-token.js';
import { IS_PUBLIC } from '../access/access.decorators.js';

/**
 * Global guard: every route needs a valid access token of a live session
 * unless it is marked @Public(). Sets `request.principal` with the user's
 * current roles.
 */
@Injectable()
export class AccessTokenGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: AccessTokenService,
    private readonly authState: AuthStateService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()])) {
      return true;
    }
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const header = request.headers.authorization;
    if (header === undefined) throw new ApiError('missing_token', 'An access token is required');
    const token = bearerToken(header);
    if (!token) throw new ApiError('invalid_token', 'Authorization must be "Bearer <access token>"');

    let claims;
    try {
      claims = await this.tokens.verify(token);
    } catch (error) {
      if (error instanceof TokenError) {
        throw new ApiError(
          error.code,
          error.code === 'token_expired' ? 'Access token expired' : 'Invalid access token',
        );
      }
      throw error;
    }

    const state = await this.authState.live(claims.sid, claims.sub);
    if (!state) {
      throw new ApiError('session_revoked', 'Session is no longer valid; sign in again');
    }
    request.principal = { userId: claims.sub, sessionId: claims.sid, roles: state.roles };
    return true;
  }
}
