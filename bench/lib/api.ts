/** A small client of the service's HTTP API, for preparing scenarios (not for load). */
export interface ApiResponse {
  status: number;
  body: any;
  headers: Headers;
}

export async function call(
  base: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(base + path, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body, headers: response.headers };
}

/** Like `call`, but any status other than `expected` is an error naming the response. */
export async function expect(
  expected: number,
  base: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown } = {},
): Promise<any> {
  const response = await call(base, method, path, options);
  if (response.status !== expected) {
    throw new Error(
      `${method} ${path}: expected ${expected}, got ${response.status} ${JSON.stringify(response.body)}`,
    );
  }
  return response.body;
}

export interface Session {
  userId: string;
  accessToken: string;
  refreshToken: string;
}

export async function signup(base: string, email: string, password: string): Promise<Session> {
  const body = await expect(201, base, 'POST', '/auth/signup', { body: { email, password } });
  return { userId: body.id, accessToken: body.accessToken, refreshToken: body.refreshToken };
}

export async function signin(base: string, email: string, password: string): Promise<Session> {
  const body = await expect(200, base, 'POST', '/auth/signin', { body: { email, password } });
  return { userId: body.id, accessToken: body.accessToken, refreshToken: body.refreshToken };
}

/** Runs `work` over `items` with at most `limit` at a time. */
export async function pool<T, R>(items: T[], limit: number, work: (item: T, index: number) => Promise<R>) {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Decodes a JWT's header and payload (no verification: the bench only copies their shape). */
export function decodeJwt(token: string): {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
} {
  const [header = '', payload = ''] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')),
  };
}
