import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toErrorResponse } from './error-body.js';
import { errorDetail } from './error-detail.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The error code the response carries, set here (read by the metrics' onResponse hook). */
    errorCode?: string;
  }
}

/**
 * The one place errors become responses. Expected errors go out as they are;
 * anything else becomes a 500 (or 503 when the database is unreachable) with
 * a generic message, and its detail goes only to the log, with the request id.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const { body, headers, unexpected } = toErrorResponse(exception);
    if (unexpected && body.code === 'unavailable') {
      // The database is down: every request says so until it is back, and readiness and
      // the database driver's own errors tell why; a stack trace per request adds nothing
      // (the reason stays, without the frames).
      const reason = errorDetail(exception)
        .split('\n')
        .filter((line) => !/^\s+at /.test(line))
        .join(' ← ');
      request.log.warn({ statusCode: body.statusCode, reason }, 'request failed: database unavailable');
    } else if (unexpected) {
      // The request's own logger: the line carries its requestId.
      request.log.error({ statusCode: body.statusCode, err: errorDetail(exception) }, 'request failed');
    }
    if (reply.sent) return;
    request.errorCode = body.code;
    void reply.status(body.statusCode).headers(headers).send(body);
  }
}
