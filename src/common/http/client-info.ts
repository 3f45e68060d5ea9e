import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CountedEvent } from '../security-events.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Security events noted by the request's handler (see ClientInfo.events). */
    securityEvents?: CountedEvent[];
  }
}

/** Where a request came from, as recorded on sessions (and audit events). */
export interface ClientInfo {
  /** Client address: the socket's, or X-Forwarded-For's when TRUST_PROXY names the proxy. */
  ip: string;
  userAgent: string | null;
  /**
   * Aborted when the client closes the connection before its response is sent: work queued
   * for the request (password hashing) is then dropped instead of done for nobody. Absent
   * outside HTTP (the command line).
   */
  closed?: AbortSignal;
  /**
   * Security events the request stands for that its method, route and status cannot tell apart
   * (a signin answered with an MFA challenge, a recovery code used): the service pushes them
   * once its change committed, and the metrics count them when the response is sent. Absent
   * outside HTTP.
   */
  events?: CountedEvent[];
}

const MAX_USER_AGENT = 512;

/** `@ClientInfo() client: ClientInfo` in a handler: the caller's address and user agent. */
export const ClientInfo = createParamDecorator((_data: unknown, context: ExecutionContext): ClientInfo => {
  const http = context.switchToHttp();
  return clientInfo(http.getRequest<FastifyRequest>(), http.getResponse<FastifyReply>());
});

function clientInfo(request: FastifyRequest, reply: FastifyReply): ClientInfo {
  const header = request.headers['user-agent'];
  const userAgent = typeof header === 'string' ? storable(header.slice(0, MAX_USER_AGENT)) : '';
  return {
    ip: storable(request.ip),
    userAgent: userAgent === '' ? null : userAgent,
    closed: closedSignal(request, reply),
    events: (request.securityEvents ??= []),
  };
}

/**
 * A signal aborted when the client goes away before the response is written: the
 * response's `close` comes without its `finish` (or the socket is gone already).
 */
function closedSignal(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  const response = reply.raw;
  if (response.writableFinished) return controller.signal;
  if (response.destroyed || request.raw.socket?.destroyed === true) {
    controller.abort();
    return controller.signal;
  }
  response.once('close', () => {
    if (!response.writableFinished) controller.abort();
  });
  return controller.signal;
}

/**
 * Both values come from the client (the address through X-Forwarded-For from a
 * trusted proxy) and are stored as PostgreSQL text, which holds neither NUL nor
 * an unpaired UTF-16 surrogate: either must not turn the request into a 500.
 * (Node's HTTP parser refuses NUL in a header, but a lenient parser or an
 * in-process caller such as `inject()` lets both through.)
 */
function storable(text: string): string {
  return text
    .replaceAll('\u0000', '')
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}
