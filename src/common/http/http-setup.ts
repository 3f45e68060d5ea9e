import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';

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
