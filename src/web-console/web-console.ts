import { existsSync, statSync } from 'node:fs';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../common/errors/api-error.js';
import { toErrorResponse } from '../common/errors/error-body.js';

/**
 * Where `npm run build` puts the console (Vite's output): dist/console, two levels up from this
 * file whether it runs compiled (dist/web-console/) or from source in the tests (src/web-console/).
 */
export const CONSOLE_DIR = fileURLToPath(new URL('../../dist/console/', import.meta.url));

/**
 * The console's policy: its own scripts and styles only (no inline code, no eval), data: images
 * for the TOTP QR code, the API on the same origin, never framed, no <base>, forms to itself.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

/** Vite names every file under assets/ by its content's hash: it never changes, cache it for a year. */
const HASHED = 'public, max-age=31536000, immutable';
/** The page itself is revalidated on every load, so that a new build is picked up at once. */
const PAGE = 'no-cache';
/** Unhashed files beside it (the icon). */
const OTHER = 'public, max-age=3600';

/**
 * Serves the web console at /console: the built files, and index.html for every other path under
 * it (the console's own routes, such as the mailed /console/reset-password#token=…). Public, as the
 * contract says: these are Fastify routes beside Nest's, so no guard runs on them; the console
 * authenticates to the API itself.
 */
export async function serveConsole(app: NestFastifyApplication): Promise<void> {
  const built = existsSync(resolve(CONSOLE_DIR, 'index.html'));
  if (!built) {
    app
      .getHttpAdapter()
      .getInstance()
      .log.warn('The web console is not built (dist/console): /console answers 404 until `npm run build`');
  }
  await app.register(async (fastify: FastifyInstance) => {
    await fastify.register(fastifyStatic, { root: CONSOLE_DIR, serve: false, suppressWarning: true });
    fastify.get('/console', (request, reply) => sendConsoleFile(reply, 'index.html'));
    fastify.get('/console/*', (request: FastifyRequest<{ Params: { '*': string } }>, reply) =>
      sendConsoleFile(reply, request.params['*']),
    );
  });
}

/**
 * One file of the console, or index.html for a client-side route (a path without an extension).
 * Whatever is not there answers 404 in the API's error shape, never a directory listing nor a file
 * outside CONSOLE_DIR.
 */
function sendConsoleFile(reply: FastifyReply, path: string): FastifyReply {
  void reply.header('content-security-policy', CONSOLE_CSP);
  const isClientRoute = path === '' || extname(path) === '';
  const file = isClientRoute ? 'index.html' : path;
  const absolute = resolve(CONSOLE_DIR, file);
  if (!absolute.startsWith(CONSOLE_DIR) || absolute.includes(`${sep}.`) || !isFile(absolute)) {
    const { body } = toErrorResponse(
      new ApiError('not_found', isClientRoute ? 'The console is not built' : 'Not found'),
    );
    return reply.status(404).header('cache-control', 'no-store').send(body);
  }
  const cacheControl = file === 'index.html' ? PAGE : file.startsWith('assets/') ? HASHED : OTHER;
  return reply.header('cache-control', cacheControl).sendFile(file, CONSOLE_DIR, { cacheControl: false });
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
