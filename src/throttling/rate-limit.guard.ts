import { type ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard, type ThrottlerLimitDetail, type ThrottlerModuleOptions } from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../common/errors/api-error.js';
import type { AppConfig } from '../config/app-config.js';
import { clientKey } from './client-key.js';

/**
 * Which per-minute limit a route is under: `auth` — everything under /auth and the OAuth token
 * endpoint, RATE_LIMIT_PER_MINUTE together; `oauth` — introspection and the revocation feed, which
 * authenticated resource servers call at their own pace, OAUTH_RATE_LIMIT_PER_MINUTE together.
 */
export function rateLimitOf(request: FastifyRequest): 'auth' | 'oauth' | undefined {
  const route = request.routeOptions?.url ?? request.url;
  if (route === '/auth' || route.startsWith('/auth/') || route === '/oauth/token') return 'auth';
  if (route === '/oauth/introspect' || route === '/oauth/revocations') return 'oauth';
  return undefined;
}

export function isRateLimitedRoute(request: FastifyRequest): boolean {
  return rateLimitOf(request) !== undefined;
}

const under = (name: 'auth' | 'oauth') => (context: ExecutionContext) =>
  rateLimitOf(context.switchToHttp().getRequest<FastifyRequest>()) !== name;

/**
 * Each limit counts a client key's requests a minute over all of its routes together (not per route).
 */
export function rateLimitOptions(config: AppConfig): ThrottlerModuleOptions {
  return {
    throttlers: [
      { name: 'auth', ttl: 60_000, limit: config.rateLimitPerMinute, skipIf: under('auth') },
      { name: 'oauth', ttl: 60_000, limit: config.oauthRateLimitPerMinute, skipIf: under('oauth') },
    ],
    // Which routes are limited is decided once, in RateLimitGuard.canActivate.
    skipIf: (context) => context.getType() !== 'http',
    getTracker: (request) => clientKey((request as FastifyRequest).ip),
    generateKey: (_context, tracker, throttlerName) => `${throttlerName}:${tracker}`,
    // No X-RateLimit-* headers: the contract promises Retry-After on 429 only.
    setHeaders: false,
  };
}

/**
 * @nestjs/throttler's guard, answering 429 in the contract's shape. It is a
 * global guard registered before authentication's, so requests with bad
 * tokens count too.
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  // Only the routes above are limited; every other route leaves before the
  // throttler's own metadata lookups, which cost more than the rest of a cached
  // GET /users/me's guards.
  override canActivate(context: ExecutionContext): Promise<boolean> {
    if (
      context.getType() === 'http' &&
      !isRateLimitedRoute(context.switchToHttp().getRequest<FastifyRequest>())
    ) {
      return Promise.resolve(true);
    }
    return super.canActivate(context);
  }

  protected override async throwThrottlingException(
    _context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    throw new ApiError('too_many_requests', 'Too many requests; try again later', undefined, {
      'Retry-After': String(Math.max(1, detail.timeToBlockExpire)),
    });
  }
}
