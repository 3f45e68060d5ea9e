import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/test-app.js';

const ALLOWED = 'https://app.example.com';
const OTHER = 'https://evil.example.net';

interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

/** One real HTTP request on its own connection, as a browser's preflight goes out. */
function send(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: '127.0.0.1', port, method, path, headers: { connection: 'close', ...headers }, agent: false },
      (response) => {
        response.resume();
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers }));
      },
    );
    request.on('error', reject);
    request.end();
  });
}

const list = (value: string | string[] | undefined): string[] =>
  String(value ?? '')
    .split(',')
    .map((item) => item.trim().toLowerCase())
    .filter(Boolean);

const preflight = (port: number, origin: string, method: string, path: string) =>
  send(port, 'OPTIONS', path, {
    origin,
    'access-control-request-method': method,
    'access-control-request-headers': 'authorization,content-type',
  });

describe('CORS preflight for the origins CORS_ORIGINS lists', () => {
  let t: TestApp;
  let port: number;

  beforeAll(async () => {
    t = await createTestApp({ CORS_ORIGINS: `${ALLOWED},https://other-app.example.com` });
    await t.app.listen(0, '127.0.0.1');
    port = (t.app.getHttpServer().address() as { port: number }).port;
  });
  afterAll(() => t.close());

  it.each([
    ['DELETE', '/auth/sessions/0192f000-0000-7000-8000-000000000000'],
    ['PATCH', '/users/0192f000-0000-7000-8000-000000000000'],
    ['DELETE', '/users/0192f000-0000-7000-8000-000000000000/sessions'],
    ['POST', '/auth/signin'],
    ['GET', '/users/me'],
  ])('an allowed origin may send %s %s with authorization and content-type', async (method, path) => {
    const reply = await preflight(port, ALLOWED, method, path);
    expect(reply.status).toBe(204);
    expect(reply.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(list(reply.headers['access-control-allow-methods'])).toContain(method.toLowerCase());
    expect(list(reply.headers['access-control-allow-headers'])).toEqual(
      expect.arrayContaining(['authorization', 'content-type']),
    );
  });

  it('the preflight names every method and header the API uses', async () => {
    const reply = await preflight(port, ALLOWED, 'DELETE', '/auth/sessions/x');
    expect(list(reply.headers['access-control-allow-methods'])).toEqual(
      expect.arrayContaining(['get', 'head', 'post', 'patch', 'delete', 'options']),
    );
    expect(list(reply.headers['access-control-allow-headers'])).toEqual(
      expect.arrayContaining(['authorization', 'content-type', 'x-request-id']),
    );
    expect(reply.headers.vary).toMatch(/origin/i);
  });

  it.each(['DELETE', 'PATCH', 'POST'])('a disallowed origin gets no CORS grant for %s', async (method) => {
    const reply = await preflight(port, OTHER, method, '/users/0192f000-0000-7000-8000-000000000000');
    expect(reply.headers['access-control-allow-origin']).toBeUndefined();
    expect(reply.headers['access-control-allow-methods']).toBeUndefined();
    expect(reply.headers['access-control-allow-headers']).toBeUndefined();
    expect(reply.status).not.toBe(204);
  });

  it('an origin that only starts like an allowed one is disallowed', async () => {
    for (const origin of [`${ALLOWED}.evil.net`, `${ALLOWED}:8443`, 'http://app.example.com', 'null']) {
      const reply = await preflight(port, origin, 'DELETE', '/auth/sessions/x');
      expect(reply.headers['access-control-allow-origin'], origin).toBeUndefined();
    }
  });

  it('an actual request from an allowed origin is granted; from another origin it is not', async () => {
    const allowed = await send(port, 'GET', '/health/live', { origin: ALLOWED });
    expect(allowed.status).toBe(200);
    expect(allowed.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(list(allowed.headers['access-control-expose-headers'])).toEqual(
      expect.arrayContaining(['x-request-id', 'retry-after', 'link']),
    );
    const other = await send(port, 'GET', '/health/live', { origin: OTHER });
    expect(other.status).toBe(200);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    expect(other.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('grants credentials (cookie mode) to a trusted origin only, naming it, never *', async () => {
    for (const reply of [
      await preflight(port, ALLOWED, 'POST', '/auth/refresh'),
      await send(port, 'POST', '/auth/refresh', { origin: ALLOWED }),
    ]) {
      expect(reply.headers['access-control-allow-origin']).toBe(ALLOWED);
      expect(reply.headers['access-control-allow-credentials']).toBe('true');
    }
    const other = await preflight(port, OTHER, 'POST', '/auth/refresh');
    expect(other.headers['access-control-allow-credentials']).toBeUndefined();
    for (const origin of [ALLOWED, OTHER, 'null']) {
      const reply = await send(port, 'GET', '/users/me', { origin });
      expect(reply.headers['access-control-allow-origin']).not.toBe('*');
    }
  });

  it("trusts PUBLIC_URL's own origin too, and lets every trusted origin read a 401's WWW-Authenticate", async () => {
    const own = new URL(t.config.publicUrl).origin;
    const preflighted = await preflight(port, own, 'PATCH', '/users/x');
    expect(preflighted.status).toBe(204);
    expect(preflighted.headers['access-control-allow-origin']).toBe(own);
    const denied = await send(port, 'GET', '/users/me', { origin: ALLOWED });
    expect(denied.status).toBe(401);
    expect(list(denied.headers['access-control-expose-headers'])).toEqual(
      expect.arrayContaining(['www-authenticate', 'retry-after', 'link', 'x-request-id']),
    );
  });
});

describe('CORS without CORS_ORIGINS', () => {
  let t: TestApp;
  let port: number;

  beforeAll(async () => {
    t = await createTestApp({ PUBLIC_URL: 'https://auth.example.com' });
    await t.app.listen(0, '127.0.0.1');
    port = (t.app.getHttpServer().address() as { port: number }).port;
  });
  afterAll(() => t.close());

  it("grants no origin anything (PUBLIC_URL's own pages are same-origin and need no CORS)", async () => {
    for (const origin of ['https://auth.example.com', ALLOWED, 'null']) {
      const reply = await preflight(port, origin, 'DELETE', '/auth/sessions/x');
      expect(reply.headers['access-control-allow-origin'], origin).toBeUndefined();
      expect(reply.headers['access-control-allow-credentials'], origin).toBeUndefined();
    }
  });
});
