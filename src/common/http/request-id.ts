import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** What an incoming X-Request-Id may look like to be kept: short, printable, no spaces. */
const ACCEPTABLE_ID = /^[\w.:@/+=-]{1,128}$/;

/** Keeps a caller's X-Request-Id (so traces join up across services) or makes a new one. */
export function requestIdFor(request: IncomingMessage): string {
  const incoming = request.headers['x-request-id'];
  return typeof incoming === 'string' && ACCEPTABLE_ID.test(incoming) ? incoming : randomUUID();
}
