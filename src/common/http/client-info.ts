import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

/** Where a request came from, as recorded on sessions (and audit events). */
export interface ClientInfo {
  /** Client address: the socket's, or X-Forwarded-For's when TRUST_PROXY names the proxy. */
  ip: string;
  userAgent: string | null;
}

const MAX_USER_AGENT = 512;

/** `@ClientInfo() client: ClientInfo` in a handler: the caller's address and user agent. */
export const ClientInfo = createParamDecorator((_data: unknown, context: ExecutionContext): ClientInfo =>
  clientInfo(context.switchToHttp().getRequest<FastifyRequest>()),
);

function clientInfo(request: FastifyRequest): ClientInfo {
  const header = request.headers['user-agent'];
  const userAgent = typeof header === 'string' ? storable(header.slice(0, MAX_USER_AGENT)) : '';
  return { ip: storable(request.ip), userAgent: userAgent === '' ? null : userAgent };
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
