import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AppConfig } from '../../config/app-config.js';

/** A year: browsers keep using https for the host that long after they last saw the header. */
const HSTS_MAX_AGE = 365 * 24 * 60 * 60;

/**
 * The Swagger UI page's policy: its scripts are files (swagger-ui-bundle.js, …
 * and the initializer swagger-ui-init.js), never inline; its styles include
 * inline ones (a `<style>` block and style attributes), which cannot run code;
 * its icons are data: URLs; "Try it out" calls this service. Nothing else loads.
 */
function docsPolicy(publicOrigin: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    `connect-src 'self' ${publicOrigin}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * The headers every response carries, whatever answers it (a route, an error,
 * the router's 404, a preflight, a static file):
 * - `X-Content-Type-Options: nosniff`: a JSON body is never run as a script or shown as HTML;
 * - `Referrer-Policy: no-referrer`: no URL of ours leaks in a Referer;
 * - `X-Frame-Options: DENY`: no page of ours inside another site's frame (clickjacking);
 * - `Strict-Transport-Security` when PUBLIC_URL is https;
 * - `Cache-Control: no-store` unless the route sets its own (the JWKS, the metadata and the
 *   probes do): every other answer is personal, a secret, or changes from one call to the next,
 *   so no browser or proxy cache keeps it;
 * - under /docs, the documentation page's Content-Security-Policy.
 */
export function securityHeaders(
  config: Pick<AppConfig, 'publicUrl'>,
): (path: string) => Record<string, string> {
  const publicUrl = new URL(config.publicUrl);
  const everywhere: Record<string, string> = {
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    ...(publicUrl.protocol === 'https:' && { 'strict-transport-security': `max-age=${HSTS_MAX_AGE}` }),
    'cache-control': 'no-store',
  };
  const docs = { ...everywhere, 'content-security-policy': docsPolicy(publicUrl.origin) };
  return (path) => (isDocsPath(path) ? docs : everywhere);
}

function isDocsPath(path: string): boolean {
  return path === '/docs' || path.startsWith('/docs/');
}

/**
 * Sets securityHeaders on every response as it is sent (onSend runs for
 * whatever answers: a route, the error filter, the router's 404, a CORS
 * preflight answered in a hook, a static file). Cache-Control and the
 * Content-Security-Policy are defaults: a route that sets its own keeps it.
 */
export function configureSecurityHeaders(app: NestFastifyApplication, config: AppConfig): void {
  const headersFor = securityHeaders(config);
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onSend', async (request, reply, payload) => {
      for (const [name, value] of Object.entries(headersFor(pathOf(request.url)))) {
        if (!DEFAULTS.has(name) || !reply.hasHeader(name)) void reply.header(name, value);
      }
      return payload;
    });
}

/** The headers a route may set otherwise (a cacheable JWKS; a page with its own policy). */
const DEFAULTS = new Set(['cache-control', 'content-security-policy']);

/** The URL path without its query string. */
export function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}
