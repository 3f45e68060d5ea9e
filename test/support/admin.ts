import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { expect } from 'vitest';
import type { RawEnv } from '../../src/config/config.schema.js';
import { type AuthBody, GOOD_PASSWORD, type Http, type Reply } from './http.js';
import { createTestApp, type TestApp } from './test-app.js';
import { NO_THROTTLE } from './tokens.js';

/** The first admin that `createAdminApp` creates at start (ADMIN_EMAIL / ADMIN_PASSWORD). */
export const ROOT_EMAIL = 'root@example.com';
export const ROOT_PASSWORD = GOOD_PASSWORD;

/** The whole app with a first admin, and the throttles out of the way. */
export function createAdminApp(env: RawEnv = {}): Promise<TestApp> {
  return createTestApp({ ...NO_THROTTLE, ADMIN_EMAIL: ROOT_EMAIL, ADMIN_PASSWORD: ROOT_PASSWORD, ...env });
}

/** Signs in as the first admin. */
export function signinRoot(http: Http, headers?: Record<string, string>): Promise<AuthBody> {
  return http.signin(ROOT_EMAIL, ROOT_PASSWORD, headers);
}

/** PATCH /users/:id as `token`, asserting 200; returns the admin view. */
export async function patchUser(
  http: Http,
  token: string,
  id: string,
  body: { roles?: string[]; disabled?: boolean },
  headers?: Record<string, string>,
): Promise<Record<string, any>> {
  const reply = await http.patch(`/users/${id}`, { token, body, headers });
  expect(reply.status, reply.text).toBe(200);
  return reply.body;
}

/** The target of `Link: <…>; rel="next"`, or undefined when there is no next page. */
export function nextLink(reply: Reply): string | undefined {
  const header = reply.headers.link;
  if (header === undefined) return undefined;
  expect(typeof header, 'one Link header').toBe('string');
  const match = /^<([^>]+)>;\s*rel="next"$/.exec(header as string);
  expect(match, `Link header shape: ${String(header)}`).not.toBeNull();
  return match![1];
}

/**
 * Follows `Link: rel="next"` from `url` until there is none (bounded), asserting
 * each page is 200 with at most `limit` items. Returns the pages in order.
 */
export async function collectPages(
  http: Http,
  url: string,
  token: string,
  maxPages = 200,
): Promise<{ pages: any[][]; links: string[] }> {
  const pages: any[][] = [];
  const links: string[] = [];
  let next: string | undefined = url;
  while (next !== undefined) {
    expect(pages.length, 'pagination ends').toBeLessThan(maxPages);
    const reply = await http.get(next, { token });
    expect(reply.status, reply.text).toBe(200);
    expect(Array.isArray(reply.body)).toBe(true);
    pages.push(reply.body);
    next = nextLink(reply);
    if (next !== undefined) links.push(next);
  }
  return { pages, links };
}

/** Newest first on (createdAt, id), as the contract orders lists. */
export function expectNewestFirst(items: { createdAt: string; id: string }[]): void {
  for (let i = 1; i < items.length; i++) {
    const [a, b] = [items[i - 1]!, items[i]!];
    const order = a.createdAt === b.createdAt ? (a.id > b.id ? 1 : -1) : a.createdAt > b.createdAt ? 1 : -1;
    expect(order, `${a.createdAt}/${a.id} before ${b.createdAt}/${b.id}`).toBe(1);
  }
}

/**
 * Every route Fastify has registered, from `printRoutes({ commonPrefix: false })`:
 * the route table itself, so that routes added outside Nest's controllers
 * (documentation, plugins) are walked too. One entry per path and method.
 */
export function registeredRoutes(app: NestFastifyApplication): { method: string; path: string }[] {
  const tree = app.getHttpAdapter().getInstance().printRoutes({ commonPrefix: false });
  const routes: { method: string; path: string }[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^((?:[│ ] {3})*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/u.exec(line);
    if (!match) {
      expect(line.trim(), `unparsed printRoutes line: ${line}`).toBe('');
      continue;
    }
    const depth = match[1]!.length / 4;
    stack.length = depth;
    const path = (stack[depth - 1] ?? '') + match[2]!;
    stack.push(path);
    for (const method of match[3]?.split(',').map((m) => m.trim()) ?? []) routes.push({ method, path });
  }
  expect(routes.length, 'printRoutes was parsed').toBeGreaterThan(0);
  return routes;
}
