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
  if (auth && 'clientId' in auth)
    headers.authorization = basic(auth.clientId, auth.clientSecret);
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
