import { type ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard, type ThrottlerLimitDetail, type ThrottlerModuleOptions } from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../common/errors/api-error.js';
import type { AppConfig } from '../config/app-config.js';
import { clientKey } from './client-key.js';

/**
 * The routes the per-minute limit applies to: everything under /auth, and the OAuth token endpoint
 * (introspection and the revocation feed serve authenticated resource servers at their own pace).
 */
export function isRateLimitedRoute(request: FastifyRequest): boolean {
  const route = request.routeOptions?.url ?? request.url;
  return route === '/auth' || route.startsWith('/auth/') || route === '/oauth/token';
}

/**
 * RATE_LIMIT_PER_MINUTE requests a minute per client key, counted together
 * over every limited route (not per route).
 */
export function rateLimitOptions(config: AppConfig): ThrottlerModuleOptions {
  return {
    throttlers: [{ name: 'auth', ttl: 60_000, limit: config.rateLimitPerMinute }],
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
  // Only /auth routes are limited; every other route leaves before the
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
