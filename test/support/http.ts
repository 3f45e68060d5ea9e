import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { expect } from 'vitest';
import { assertDocumented } from './openapi-validation.js';

export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | number | undefined>;
  /** The body as text, decompressed when it came compressed (as any HTTP client does). */
  text: string;
  /** The body's size on the wire, compressed or not (replies made through Http). */
  bytes?: number;
}

/** Decodes a gzip or brotli body (the service compresses large responses when asked to). */
function decoded(raw: Buffer, encoding: unknown): string {
  if (encoding === 'br') return brotliDecompressSync(raw).toString('utf8');
  if (encoding === 'gzip') return gunzipSync(raw).toString('utf8');
  return raw.toString('utf8');
}

export interface RequestOptions {
  body?: unknown;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  headers?: Record<string, string>;
  /** Raw payload, sent as is (with the given headers). */
  payload?: string | Buffer;
}

let counter = 0;
/** A unique, valid email for this test run. */
export const uniqueEmail = (prefix = 'user'): string =>
  `${prefix}.${process.pid}.${Date.now()}.${++counter}@example.com`;

export const GOOD_PASSWORD = 'correct horse battery staple';

/**
 * Talks to the app through Fastify's HTTP injection: the full request
 * pipeline, without a socket. Every response to a documented route is held
 * to the app's OpenAPI document (openapi-validation.ts): a mismatch fails the test.
 */
export class Http {
  /** The app, or a getter for one that a `beforeAll` creates later (see useTestApp). */
  constructor(private readonly target: NestFastifyApplication | (() => NestFastifyApplication)) {}

  private get app(): NestFastifyApplication {
    return typeof this.target === 'function' ? this.target() : this.target;
  }

  async request<T = any>(method: string, url: string, options: RequestOptions = {}): Promise<Reply<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    let payload = options.payload;
    if (options.body !== undefined && payload === undefined) {
      payload = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await this.app.inject({ method: method as 'GET', url, headers, payload });
    const text = decoded(response.rawPayload, response.headers['content-encoding']);
    let body: unknown = undefined;
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    const reply = {
      status: response.statusCode,
      body: body as T,
      headers: response.headers,
      text,
      bytes: response.rawPayload.length,
    };
    await assertDocumented(this.app, method.toUpperCase(), url, reply);
    return reply;
  }

  get = <T = any>(url: string, options?: RequestOptions) => this.request<T>('GET', url, options);
  post = <T = any>(url: string, options?: RequestOptions) => this.request<T>('POST', url, options);
  delete = <T = any>(url: string, options?: RequestOptions) => this.request<T>('DELETE', url, options);
  patch = <T = any>(url: string, options?: RequestOptions) => this.request<T>('PATCH', url, options);

  /** Signs up a new user; asserts success. */
  async signup(email = uniqueEmail(), password = GOOD_PASSWORD, headers?: Record<string, string>) {
    const reply = await this.post('/auth/signup', { body: { email, password }, headers });
    expect(reply.status, reply.text).toBe(201);
    return { ...(reply.body as AuthBody), email, password };
  }

  async signin(email: string, password = GOOD_PASSWORD, headers?: Record<string, string>) {
    const reply = await this.post('/auth/signin', { body: { email, password }, headers });
    expect(reply.status, reply.text).toBe(200);
    return reply.body as AuthBody;
  }
}

export interface AuthBody {
  id: string;
  email: string;
  roles: string[];
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
}

/** Asserts the contract's error shape and code. */
export function expectError(reply: Reply, status: number, code: string): void {
  expect(reply.status, reply.text).toBe(status);
  expect(reply.body).toMatchObject({ statusCode: status, code, message: expect.any(String) });
  expect(typeof reply.body.error).toBe('string');
}
