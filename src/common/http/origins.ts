import type { AppConfig } from '../../config/app-config.js';

/**
 * The origins a browser may call the API from with credentials: PUBLIC_URL's
 * own and those CORS_ORIGINS lists. Both are canonical (`scheme://host[:port]`,
 * lowercase, no default port, no trailing slash): CORS_ORIGINS is checked so at
 * start, and PUBLIC_URL's is what the URL parser makes of it.
 */
export function trustedOrigins(config: Pick<AppConfig, 'publicUrl' | 'corsOrigins'>): ReadonlySet<string> {
  return new Set([new URL(config.publicUrl).origin, ...config.corsOrigins]);
}

/**
 * Whether a request's `Origin` header names a trusted origin. The comparison is
 * exact: a browser always sends the canonical form, so anything else — absent,
 * `null` (sandboxed frames, file:, some redirects), another case, a trailing
 * slash, a path, a default port spelt out, two headers joined — is refused.
 */
export function isTrustedOrigin(
  origin: string | string[] | undefined,
  trusted: ReadonlySet<string>,
): boolean {
  return typeof origin === 'string' && trusted.has(origin);
}
