import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type DatabaseErrorClassifier, type DatabaseUnavailable, toErrorResponse } from './error-body.js';
import { errorDetail } from './error-detail.js';
import { isOAuthPath, toOAuthErrorBody } from './oauth-error.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The error code the response carries, set here (read by the metrics' onResponse hook). */
    errorCode?: string;
    /** Why the database could not serve the request, when that is why it failed (read by the metrics too). */
    databaseUnavailable?: DatabaseUnavailable;
  }
}

/**
 * The one place errors become responses. Expected errors go out as they are;
 * anything else becomes a 500 (or 503 when the database cannot serve it now,
 * as `classifyDatabaseError` tells) with a generic message, and its detail
 * goes only to the log, with the request id.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  constructor(private readonly classifyDatabaseError: DatabaseErrorClassifier) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const { body, headers, unexpected, databaseUnavailable } = toErrorResponse(
      exception,
      this.classifyDatabaseError,
    );
    if (databaseUnavailable) {
      // The database cannot serve now: every request says so until it can, and the class and
      // SQLSTATE tell why; a stack trace per request adds nothing (the reason stays, without the
      // frames; a failed query's SQL, never its values).
      const reason = errorDetail(exception)
        .split('\n')
        .filter((line) => !/^\s+at /.test(line))
        .join(' ← ');
      request.log.warn(
        {
          statusCode: body.statusCode,
          class: databaseUnavailable.class,
          sqlstate: databaseUnavailable.sqlstate,
          reason,
        },
        'request failed: database unavailable',
      );
      request.databaseUnavailable = databaseUnavailable;
    } else if (unexpected) {
      // The request's own logger: the line carries its requestId.
      request.log.error({ statusCode: body.statusCode, err: errorDetail(exception) }, 'request failed');
    }
    if (reply.sent) return;
    request.errorCode = body.code;
    if (isOAuthPath(request.url)) {
      void reply
        .status(body.statusCode)
        .headers(headers)
        .header('cache-control', 'no-store')
        .send(toOAuthErrorBody(body));
      return;
    }
    void reply.status(body.statusCode).headers(headers).send(body);
  }
}
