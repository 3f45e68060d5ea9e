import { type ClientRequest, type IncomingHttpHeaders, request as httpRequest } from 'node:http';
import { expect } from 'vitest';
import type { Http, Reply } from './http.js';

/** A service client as POST /clients made it. */
export interface TestClient {
  clientId: string;
  clientSecret: string;
  name: string;
  scopes: string[];
}

/** Creates a service client as `adminToken`, asserting 201. */
export async function createClient(
  http: Http,
  adminToken: string,
  scopes: string[] = ['introspect', 'revocations:read'],
  name = 'test-service',
): Promise<TestClient> {
  const reply = await http.post('/clients', { token: adminToken, body: { name, scopes } });
  expect(reply.status, reply.text).toBe(201);
  return reply.body as TestClient;
}

/** `Authorization: Basic …` for a client (RFC 6749 §2.3.1: each part form-urlencoded first). */
export function basic(clientId: string, secret: string): string {
  const encode = (text: string) => encodeURIComponent(text).replaceAll('%20', '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString('base64')}`;
}

/** A form body and its content type. */
export function form(fields: Record<string, string>): { payload: string; type: string } {
  return { payload: new URLSearchParams(fields).toString(), type: 'application/x-www-form-urlencoded' };
}

/** POSTs a form to an /oauth route as `client` (Basic), or with the given headers. */
export function postForm(
  http: Http,
  url: string,
  fields: Record<string, string>,
  auth: TestClient | Record<string, string> | undefined,
): Promise<Reply> {
  const { payload, type } = form(fields);
  const headers: Record<string, string> = { 'content-type': type };
  if (auth && 'clientId' in auth) headers.authorization = basic(auth.clientId, auth.clientSecret);
  else if (auth) Object.assign(headers, auth);
  return http.post(url, { payload, headers });
}

/** A token for `client` from /oauth/token, asserting 200. */
export async function clientToken(http: Http, client: TestClient, scope?: string): Promise<string> {
  const reply = await postForm(
    http,
    '/oauth/token',
    { grant_type: 'client_credentials', ...(scope !== undefined && { scope }) },
    client,
  );
  expect(reply.status, reply.text).toBe(200);
  return reply.body.access_token as string;
}

/** Asserts RFC 6749's error shape: `{ error, error_description }` and nothing else. */
export function expectOAuthError(reply: Reply, status: number, error: string): void {
  expect(reply.status, reply.text).toBe(status);
  expect(Object.keys(reply.body).sort()).toEqual(['error', 'error_description']);
  expect(reply.body.error).toBe(error);
  expect(typeof reply.body.error_description).toBe('string');
  expect(reply.headers['cache-control']).toBe('no-store');
}

/** One message of a Server-Sent Events stream: an event (`event`, `id`, `data`) or a comment. */
export interface SseMessage {
  event?: string;
  id?: string;
  data?: string;
  retry?: string;
  comment?: string;
}

/**
 * A Server-Sent Events client over a real connection (injection cannot stream): every message is
 * kept; `waitFor` awaits one that matches (already received or to come), bounded by a deadline.
 */
export class SseStream {
  readonly messages: SseMessage[] = [];
  ended = false;
  private buffer = '';
  private readonly listeners = new Set<() => void>();

  private constructor(private readonly request: ClientRequest) {}

  static open(
    url: string,
    headers: Record<string, string>,
  ): Promise<{ status: number; headers: IncomingHttpHeaders; stream: SseStream; body?: string }> {
    return new Promise((resolve, reject) => {
      const request = httpRequest(url, { headers: { accept: 'text/event-stream', ...headers } });
      const stream = new SseStream(request);
      request.on('error', (error) => (stream.ended ? undefined : reject(error)));
      request.on('response', (response) => {
        response.setEncoding('utf8');
        if (response.statusCode !== 200) {
          let body = '';
          response.on('data', (chunk: string) => (body += chunk));
          response.on('end', () =>
            resolve({ status: response.statusCode!, headers: response.headers, stream, body }),
          );
          return;
        }
        response.on('data', (chunk: string) => stream.receive(chunk));
        response.on('end', () => {
          stream.ended = true;
          stream.notify();
        });
        response.on('error', () => {
          stream.ended = true;
          stream.notify();
        });
        resolve({ status: 200, headers: response.headers, stream });
      });
      request.end();
    });
  }

  /** The `data` of each `revocation` event so far, parsed. */
  get revocations(): Record<string, any>[] {
    return this.messages
      .filter((m) => m.event === 'revocation')
      .map((m) => JSON.parse(m.data!) as Record<string, any>);
  }

  /** The first message matching `predicate`, received already or within `timeoutMs`. */
  waitFor(predicate: (message: SseMessage) => boolean, timeoutMs = 20_000): Promise<SseMessage> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.messages.find(predicate);
        if (found) {
          cleanup();
          resolve(found);
        } else if (this.ended) {
          cleanup();
          reject(new Error(`the stream ended without the message; got ${JSON.stringify(this.messages)}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no such message within ${timeoutMs} ms; got ${JSON.stringify(this.messages)}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Awaits a revocation event whose data matches `fields`. */
  async revocation(fields: Record<string, unknown>, timeoutMs?: number): Promise<Record<string, any>> {
    const message = await this.waitFor((m) => {
      if (m.event !== 'revocation') return false;
      const data = JSON.parse(m.data!) as Record<string, unknown>;
      return Object.entries(fields).every(
        ([key, value]) => JSON.stringify(data[key]) === JSON.stringify(value),
      );
    }, timeoutMs);
    return { ...(JSON.parse(message.data!) as Record<string, any>), id: message.id };
  }

  /** Waits for the end of the stream (the server closed it). */
  async closedByServer(timeoutMs = 20_000): Promise<void> {
    await this.waitFor(() => false, timeoutMs).catch((error: Error) => {
      if (!this.ended) throw error;
    });
  }

  close(): void {
    this.ended = true;
    this.request.destroy();
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const message: SseMessage = {};
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) message.comment = line.slice(1).trim();
        else {
          const colon = line.indexOf(':');
          const field = line.slice(0, colon) as 'event' | 'id' | 'data' | 'retry';
          message[field] = line.slice(colon + 1).replace(/^ /, '');
        }
      }
      this.messages.push(message);
    }
    this.notify();
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}
