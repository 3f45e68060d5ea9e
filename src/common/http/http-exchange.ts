import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** A request and its reply, for a handler that reads request headers and sets response headers. */
export interface HttpExchange {
  request: FastifyRequest;
  reply: FastifyReply;
}

/** `@Exchange() http: HttpExchange` in a handler. */
export const Exchange = createParamDecorator((_data: unknown, context: ExecutionContext): HttpExchange => {
  const http = context.switchToHttp();
  return { request: http.getRequest<FastifyRequest>(), reply: http.getResponse<FastifyReply>() };
});
