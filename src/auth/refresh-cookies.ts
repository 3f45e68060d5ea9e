import { Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../common/errors/api-error.js';
import type { HttpExchange } from '../common/http/http-exchange.js';
import { isTrustedOrigin, trustedOrigins } from '../common/http/origins.js';
import type { HeaderObject } from '../common/openapi/zod-openapi.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { explicitRefreshToken, type RefreshBody } from './auth.schemas.js';
import type { Grant } from './auth.service.js';

/**
 * The hosts for which the cookie may go without `Secure` (and so without the
 * `__Secure-` prefix) when PUBLIC_URL is plain http: the loopback names a
 * browser treats as this machine. Any other http PUBLIC_URL still gets a
 * Secure cookie, which a browser keeps only over https: cookie mode then does
 * not work, rather than send a refresh token over the network in clear.
 */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Only /auth/* needs the cookie (refresh, signout): no other route ever receives it. */
export const REFRESH_COOKIE_PATH = '/auth';

export interface RefreshCookiePolicy {
  name: string;
  secure: boolean;
}

/** `__Secure-gh_refresh` with `Secure`; `gh_refresh` without it only for an http PUBLIC_URL on loopback. */
export function refreshCookiePolicy(publicUrl: string): RefreshCookiePolicy {
  const url = new URL(publicUrl);
  return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)
    ? { name: 'gh_refresh', secure: false }
    : { name: '__Secure-gh_refresh', secure: true };
}

/** The values of every cookie called `name` in a Cookie header (several when a cookie was planted beside ours). */
export function cookieValues(header: string | string[] | undefined, name: string): string[] {
  if (header === undefined) return [];
  const text = Array.isArray(header) ? header.join('; ') : header;
  const values: string[] = [];
  for (const pair of text.split(';')) {
    const equals = pair.indexOf('=');
    if (equals !== -1 && pair.slice(0, equals).trim() === name) values.push(pair.slice(equals + 1).trim());
  }
  return values;
}

/** How the OpenAPI document shows the cookie a response sets. */
export function setCookieHeaderDoc(policy: RefreshCookiePolicy, description: string): HeaderObject {
  return { description, schema: { type: 'string', example: setCookie(policy, 'gh_rt_…', 2592000) } };
}

function setCookie(policy: RefreshCookiePolicy, value: string, maxAge: number): string {
  const secure = policy.secure ? '; Secure' : '';
  return `${policy.name}=${value}; HttpOnly${secure}; SameSite=Strict; Path=${REFRESH_COOKIE_PATH}; Max-Age=${maxAge}`;
}

/**
 * Cookie mode, for browser apps (`?cookie=1`): the refresh token travels in an
 * HttpOnly, SameSite=Strict cookie scoped to /auth, where no script — an XSS
 * included — can read it, instead of in the JSON body. The cookie is sent by
 * the browser on its own, so whatever it authenticates is guarded against
 * cross-site request forgery by the request's `Origin`: it must be a trusted
 * origin (PUBLIC_URL's or one of CORS_ORIGINS), or the request is refused with
 * 403 `csrf_rejected` before anything changes. SameSite alone would not do: a
 * page on another port or subdomain of the same site gets the cookie sent.
 */
@Injectable()
export class RefreshCookies {
  readonly policy: RefreshCookiePolicy;
  private readonly trusted: ReadonlySet<string>;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.policy = refreshCookiePolicy(config.publicUrl);
    this.trusted = trustedOrigins(config);
  }

  /**
   * Answers a route that issues tokens. With `?cookie=1` the request's origin is
   * checked first (a forged signin would sign the victim's browser in to the
   * attacker's account), then the refresh token of the grant moves into the
   * cookie, living until the session's absolute end. An MFA challenge (no
   * tokens yet) sets no cookie.
   */
  async answer<R extends object>(http: HttpExchange, issue: () => Promise<R>): Promise<Delivered<R>> {
    const cookieMode = isCookieMode(http.request);
    if (cookieMode) this.requireTrustedOrigin(http.request);
    const outcome = await issue();
    if (!isGrant(outcome)) return outcome as Delivered<R>;
    const { tokens, sessionEndsAt } = outcome;
    if (!cookieMode) return tokens as Delivered<R>;
    const maxAge = Math.max(0, Math.floor((sessionEndsAt.getTime() - Date.now()) / 1000));
    void http.reply.header('set-cookie', setCookie(this.policy, tokens.refreshToken!, maxAge));
    const { refreshToken: _inTheCookie, ...rest } = tokens;
    return rest as Delivered<R>;
  }

  /**
   * The refresh token of a refresh request: the one in `Authorization: Bearer`
   * or the body wins; with neither, the cookie's, once the request's origin is
   * found trusted. Two cookies of our name (one planted by a sibling subdomain)
   * are refused rather than guessed between.
   */
  presentedRefreshToken(http: HttpExchange, authorization: string | undefined, body: RefreshBody): string {
    if (authorization !== undefined || body?.refreshToken !== undefined) {
      const explicit = explicitRefreshToken(authorization, body);
      if (!explicit) throw refreshTokenRequired();
      return explicit;
    }
    const values = cookieValues(http.request.headers.cookie, this.policy.name);
    if (values.length === 0) throw refreshTokenRequired();
    this.requireTrustedOrigin(http.request);
    if (values.length > 1) {
      throw new ApiError('invalid_refresh_token', 'More than one refresh cookie was sent; sign in again');
    }
    return values[0]!;
  }

  /** Runs a signout, then clears the cookie (whether or not the caller used cookie mode). */
  async clearing(http: HttpExchange, signout: () => Promise<void>): Promise<void> {
    await signout();
    void http.reply.header('set-cookie', setCookie(this.policy, '', 0));
  }

  private requireTrustedOrigin(request: FastifyRequest): void {
    if (!isTrustedOrigin(request.headers.origin, this.trusted)) {
      throw new ApiError(
        'csrf_rejected',
        'This request needs an Origin header naming PUBLIC_URL or one of CORS_ORIGINS',
      );
    }
  }
}

/** What a route answers for what the service returned: the tokens of a grant, anything else as it is. */
type Delivered<R> = R extends Grant<infer T> ? T : R;

function isGrant(outcome: object): outcome is Grant<{ refreshToken?: string }> {
  return 'tokens' in outcome && 'sessionEndsAt' in outcome;
}

function isCookieMode(request: FastifyRequest): boolean {
  return (request.query as Record<string, unknown> | undefined)?.cookie === '1';
}

function refreshTokenRequired(): ApiError {
  return ApiError.validation([
    { field: 'refreshToken', message: 'is required (body, Authorization header or cookie)' },
  ]);
}
