import type { FastifyRequest } from 'fastify';

/** Where a request came from, as recorded on sessions (and audit events). */
export interface ClientInfo {
  /** Client address: the socket's, or X-Forwarded-For's when TRUST_PROXY names the proxy. */
  ip: string;
  userAgent: string | null;
}

const MAX_USER_AGENT = 512;

export function clientInfo(request: FastifyRequest): ClientInfo {
  const userAgent = request.headers['user-agent'];
  return {
    ip: request.ip,
    userAgent: typeof userAgent === 'string' && userAgent !== '' ? userAgent.slice(0, MAX_USER_AGENT) : null,
  };
}
