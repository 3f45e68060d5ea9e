import { type ArgumentsHost, Catch, type ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toErrorResponse } from './error-body.js';
import { errorDetail } from './error-detail.js';

/**
 * The one place errors become responses. Expected errors go out as they are;
 * anything else becomes a 500 (or 503 when the database is unreachable) with
 * a generic message, and its detail goes only to the log, with the request id.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    sendError(exception, http.getRequest<FastifyRequest>(), http.getResponse<FastifyReply>(), this.logger);
  }
}

export function sendError(
  exception: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
  logger: Pick<Logger, 'error'>,
): void {
  const { body, headers, unexpected } = toErrorResponse(exception);
  if (unexpected) {
    logger.error(`request ${request.id} failed: ${errorDetail(exception)}`);
  }
  if (reply.sent) return;
  void reply.status(body.statusCode).headers(headers).send(body);
}
