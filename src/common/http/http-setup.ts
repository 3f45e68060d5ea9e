import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../errors/api-error.js';
import { isOAuthPath } from '../errors/oauth-error.js';

/** A form body where only JSON is read: 415, as for any other type. */
class UnsupportedMediaType extends ApiError {
  constructor() {
    super('unsupported_media_type', 'Request body must be JSON (Content-Type: application/json)');
  }
}

/**
 * A form body as an object of strings. A parameter sent twice becomes an array, which every schema
 * refuses (RFC 6749 §3.1: parameters must not be repeated); an empty body is no body.
 */
export function parseForm(body: string): Record<string, string | string[]> | undefined {
  if (body.trim() === '') return undefined;
  const form: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (const [name, value] of new URLSearchParams(body)) {
    const previous = form[name];
    form[name] =
      previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
  }
  return { ...form };
}

/**
 * Fastify-level behaviour that sits below Nest: JSON parsing, the request id
 * header, and one log line per request. (Failures before a handler runs, such
 * as an unreadable body, reach AllExceptionsFilter through Nest's own
 * Fastify error handler.)
 */
export function configureHttp(app: NestFastifyApplication): void {
  const fastify = app.getHttpAdapter().getInstance();

  // Fastify's JSON parser, with prototype poisoning refused, but an empty body
  // accepted as "no body": clients often send Content-Type on a bodyless POST.
  // JSON is the only body type: everything else (text/plain included) is 415.
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '' || (typeof body === 'string' && body.trim() === '')) return done(null, undefined);
    void parseJson(request, body as string, done);
  });
  // OAuth's routes (RFC 6749, 7662) take form bodies; every other route keeps answering 415 to them.
  fastify.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (request, body, done) => {
      if (!isOAuthPath(request.routeOptions.url ?? '')) {
        return done(new UnsupportedMediaType(), undefined);
      }
      done(null, parseForm(body as string));
    },
  );

  fastify.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });

  // The path and the address come from the client: the logger cuts every field to
  // LOG_FIELD_MAX characters, so that a 15 KB path makes no 15 KB line.
  fastify.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unknown',
        path: pathOf(request),
        statusCode: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 100) / 100,
        ip: request.ip,
      },
      'request',
    );
  });
}

/** The URL path without its query string (queries are not logged). */
function pathOf(request: FastifyRequest): string {
  const query = request.url.indexOf('?');
  return query === -1 ? request.url : request.url.slice(0, query);
}
