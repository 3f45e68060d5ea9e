import type { paths } from './schema';

/**
 * A small typed fetch wrapper over the API's OpenAPI types (schema.d.ts, generated): the path,
 * its parameters, the body and the answer are checked against the document the service serves.
 */

export type Method = 'get' | 'post' | 'patch' | 'delete';

/** The paths that answer `M`. */
export type PathsWith<M extends Method> = {
  [P in keyof paths]: [NonNullable<paths[P][M]>] extends [never] ? never : P;
}[keyof paths];

/** The OpenAPI operation of a path and method. */
export type Op<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;

type Responses<O> = O extends { responses: infer R } ? R : never;
type JsonOf<R> = R extends { content: { 'application/json': infer J } } ? J : undefined;
type SuccessStatus = 200 | 201 | 202 | 204;

/** The JSON of the operation's success answer (undefined for 204). */
export type Success<O> = JsonOf<Responses<O>[keyof Responses<O> & SuccessStatus]>;

/** Every error `code` the operation documents. */
export type ErrorCodeOf<O> = {
  [S in keyof Responses<O>]: S extends SuccessStatus
    ? never
    : JsonOf<Responses<O>[S]> extends { code: infer C }
      ? C
      : never;
}[keyof Responses<O>];

type BodyOf<O> = O extends { requestBody: { content: { 'application/json': infer B } } }
  ? B
  : O extends { requestBody?: { content: { 'application/json': infer B } } }
    ? B | undefined
    : undefined;
type QueryOf<O> = O extends { parameters: { query?: infer Q } }
  ? [Q] extends [never]
    ? undefined
    : Q
  : undefined;
type PathParamsOf<O> = O extends { parameters: { path: infer P } }
  ? [P] extends [never]
    ? undefined
    : P
  : undefined;

export interface CallOptions<O> {
  body?: BodyOf<O>;
  query?: QueryOf<O>;
  params?: PathParamsOf<O>;
  /** Send the access token (default); false for the public routes. */
  auth?: boolean;
}

export interface Answer<T> {
  data: T;
  /** The next page's cursor, from `Link: <…cursor=…>; rel="next"`. */
  nextCursor?: string;
}

/** One entry of a validation failure's `errors`. */
export interface FieldError {
  field: string;
  message: string;
}

/** An answer in the API's error shape (or a network failure, status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fieldErrors: FieldError[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Where the access token comes from and what happens when it has expired: set by auth.ts. */
export interface TokenSource {
  accessToken(): string | undefined;
  /** Gets a new access token (through the refresh cookie); false when the session is over. */
  renew(): Promise<boolean>;
}

let tokens: TokenSource = { accessToken: () => undefined, renew: async () => false };
export function setTokenSource(source: TokenSource): void {
  tokens = source;
}

/** Codes after which a new access token is worth one try: it expired, or a rotation was missed. */
const RENEWABLE = new Set(['token_expired', 'invalid_token']);

export async function call<M extends Method, P extends PathsWith<M>>(
  method: M,
  path: P,
  options: CallOptions<Op<P, M>> = {},
): Promise<Answer<Success<Op<P, M>>>> {
  const send = () => request(method, urlOf(path, options), options);
  let response = await send();
  if (response.status === 401 && options.auth !== false && tokens.accessToken()) {
    const error = await errorOf(response.clone());
    if (RENEWABLE.has(error.code) && (await tokens.renew())) response = await send();
  }
  if (!response.ok) throw await errorOf(response);
  const text = await response.text();
  return {
    data: (text === '' ? undefined : JSON.parse(text)) as Success<Op<P, M>>,
    nextCursor: nextCursorOf(response.headers.get('link')),
  };
}

function urlOf(path: string, options: CallOptions<unknown>): string {
  let url = path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = (options.params as Record<string, string> | undefined)?.[name];
    if (value === undefined) throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(value);
  });
  const query = new URLSearchParams();
  const entries = Object.entries((options.query as Record<string, string | undefined> | undefined) ?? {});
  for (const [name, value] of entries) {
    if (value !== undefined && value !== '') query.set(name, value);
  }
  const search = query.toString();
  if (search) url += `?${search}`;
  return url;
}

async function request(method: Method, url: string, options: CallOptions<unknown>): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = options.auth === false ? undefined : tokens.accessToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  try {
    return await fetch(url, {
      method: method.toUpperCase(),
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      // The refresh cookie (Path=/auth) goes along on same-origin requests only.
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    return Response.json(
      { statusCode: 0, code: 'network_error', message: 'The service cannot be reached. Try again.' },
      { status: 599 },
    );
  }
}

async function errorOf(response: Response): Promise<ApiError> {
  try {
    const body = (await response.json()) as { code?: string; message?: string; errors?: FieldError[] };
    return new ApiError(
      response.status,
      body.code ?? 'unknown',
      body.message ?? response.statusText,
      Array.isArray(body.errors) ? body.errors : [],
    );
  } catch {
    return new ApiError(response.status, 'unknown', `The service answered ${response.status}.`);
  }
}

function nextCursorOf(link: string | null): string | undefined {
  const next = link?.split(',').find((part) => /rel="?next"?/.test(part));
  const target = next && /<([^>]*)>/.exec(next)?.[1];
  if (!target) return undefined;
  return new URL(target, location.origin).searchParams.get('cursor') ?? undefined;
}
