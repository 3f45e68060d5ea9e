import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq } from 'drizzle-orm';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sessions, users } from '../../src/database/schema.js';
import { ROOT_EMAIL, ROOT_PASSWORD } from '../support/admin.js';
import { describeWithBrowser, useBrowser } from '../support/browser.js';
import { GOOD_PASSWORD, uniqueEmail } from '../support/http.js';
import { useTestApp } from '../support/test-app.js';
import { decodeJwt, NO_THROTTLE } from '../support/tokens.js';

/** A tiny web app's origin: one empty page, served from its own port (another origin than the service). */
async function pageServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end('<!doctype html><html lang="en"><head><title>app</title></head><body>app</body></html>');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

interface FetchOutcome {
  /** The status the page could read, or the error fetch rejected with (a CORS refusal is a TypeError). */
  status?: number;
  body?: any;
  error?: string;
}

/** `fetch` run by the page itself, with its cookies (credentials: 'include'), as a browser app does. */
function pageFetch(
  page: Page,
  url: string,
  init: { method: string; headers?: Record<string, string>; body?: unknown; mode?: 'cors' | 'no-cors' },
): Promise<FetchOutcome> {
  return page.evaluate(
    async ({ url, init }) => {
      try {
        const response = await fetch(url, {
          method: init.method,
          headers: init.headers,
          body: init.body === undefined ? undefined : JSON.stringify(init.body),
          credentials: 'include',
          mode: init.mode ?? 'cors',
        });
        const text = await response.text();
        return { status: response.status, body: text ? JSON.parse(text) : undefined };
      } catch (error) {
        return { error: String(error) };
      }
    },
    { url, init },
  );
}

const JSON_TYPE = { 'content-type': 'application/json' };

/**
 * The API from web pages in a real Chromium: a page on a trusted origin (in CORS_ORIGINS) uses
 * every method with credentials; pages on other origins — one on the same site (another port of
 * 127.0.0.1: SameSite=Strict still sends them the cookie), one on another site (localhost) — can
 * neither call the API with a token nor use the refresh cookie.
 */
describeWithBrowser('the API from browser pages (CORS, cookie mode, CSRF)', () => {
  const browser = useBrowser();
  let trusted: { server: Server; port: number };
  let sameSite: { server: Server; port: number };
  beforeAll(async () => {
    [trusted, sameSite] = await Promise.all([pageServer(), pageServer()]);
  });
  afterAll(async () => {
    for (const { server } of [trusted, sameSite]) {
      server.close();
      await once(server, 'close');
    }
  });
  const { t } = useTestApp(() => ({
    ...NO_THROTTLE,
    PUBLIC_URL: 'http://localhost:3000',
    CORS_ORIGINS: `http://127.0.0.1:${trusted.port}`,
    ADMIN_EMAIL: ROOT_EMAIL,
    ADMIN_PASSWORD: ROOT_PASSWORD,
  }));
  let api: string;
  beforeAll(async () => {
    await t.app.listen(0, '127.0.0.1');
    api = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
  });

  /** A page at `origin`, in a browser context of its own (own cookies), or in the given page's. */
  async function openPage(origin: string, sharing?: Page): Promise<Page> {
    const page = sharing ? await sharing.context().newPage() : await browser.page();
    await page.goto(`${origin}/`);
    return page;
  }

  /** Signs up from the trusted page in cookie mode; the browser keeps the refresh cookie. */
  async function signupInCookieMode(page: Page) {
    const email = uniqueEmail('browser');
    const signup = await pageFetch(page, `${api}/auth/signup?cookie=1`, {
      method: 'POST',
      headers: JSON_TYPE,
      body: { email, password: GOOD_PASSWORD },
    });
    expect(signup.status, JSON.stringify(signup)).toBe(201);
    expect(signup.body).not.toHaveProperty('refreshToken');
    return { email, id: signup.body.id as string, accessToken: signup.body.accessToken as string };
  }

  const sessionRow = async (id: string) =>
    (await t.connection.db.select().from(sessions).where(eq(sessions.id, id)))[0]!;

  it('a trusted origin signs up in cookie mode, refreshes with the HttpOnly cookie, and signs out', async () => {
    const page = await openPage(`http://127.0.0.1:${trusted.port}`);
    const user = await signupInCookieMode(page);
    const cookies = await page.context().cookies(`${api}/auth`);
    expect(cookies).toEqual([
      expect.objectContaining({ name: 'gh_refresh', path: '/auth', httpOnly: true, sameSite: 'Strict' }),
    ]);
    // The page's scripts cannot read it (HttpOnly; and Path=/auth).
    expect(await page.evaluate('document.cookie')).not.toContain('gh_refresh');

    const refreshed = await pageFetch(page, `${api}/auth/refresh?cookie=1`, { method: 'POST' });
    expect(refreshed.status, JSON.stringify(refreshed)).toBe(200);
    expect(refreshed.body).not.toHaveProperty('refreshToken');
    expect(decodeJwt(refreshed.body.accessToken).payload.sid).toBe(decodeJwt(user.accessToken).payload.sid);
    const [rotated] = await page.context().cookies(`${api}/auth`);
    expect(rotated!.value).not.toBe(cookies[0]!.value);

    const signout = await pageFetch(page, `${api}/auth/signout`, {
      method: 'POST',
      headers: { authorization: `Bearer ${refreshed.body.accessToken}` },
    });
    expect(signout.status, JSON.stringify(signout)).toBe(204);
    expect(await page.context().cookies(`${api}/auth`)).toEqual([]);
    expect((await sessionRow(decodeJwt(user.accessToken).payload.sid)).revokedAt).not.toBeNull();
  });

  it('a trusted origin may DELETE and PATCH with credentials (the preflight allows them)', async () => {
    const page = await openPage(`http://127.0.0.1:${trusted.port}`);
    const user = await signupInCookieMode(page);
    // A second session of the same user, then revoked from the page.
    const other = await pageFetch(page, `${api}/auth/signin`, {
      method: 'POST',
      headers: JSON_TYPE,
      body: { email: user.email, password: GOOD_PASSWORD },
    });
    const otherSid = decodeJwt(other.body.accessToken).payload.sid as string;
    const deleted = await pageFetch(page, `${api}/auth/sessions/${otherSid}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${user.accessToken}` },
    });
    expect(deleted, JSON.stringify(deleted)).toEqual({ status: 204 });
    expect((await sessionRow(otherSid)).revokedAt).not.toBeNull();

    const admin = await pageFetch(page, `${api}/auth/signin?cookie=1`, {
      method: 'POST',
      headers: JSON_TYPE,
      body: { email: ROOT_EMAIL, password: ROOT_PASSWORD },
    });
    expect(admin.status, JSON.stringify(admin)).toBe(200);
    const patched = await pageFetch(page, `${api}/users/${user.id}`, {
      method: 'PATCH',
      headers: { ...JSON_TYPE, authorization: `Bearer ${admin.body.accessToken}` },
      body: { roles: ['user', 'admin'] },
    });
    expect(patched.status, JSON.stringify(patched)).toBe(200);
    expect([...patched.body.roles].sort()).toEqual(['admin', 'user']);
  });

  it('another origin cannot DELETE or PATCH, even holding a valid token: the preflight is refused, nothing changes', async () => {
    const victimPage = await openPage(`http://127.0.0.1:${trusted.port}`);
    const user = await signupInCookieMode(victimPage);
    const admin = await pageFetch(victimPage, `${api}/auth/signin`, {
      method: 'POST',
      headers: JSON_TYPE,
      body: { email: ROOT_EMAIL, password: ROOT_PASSWORD },
    });
    const sid = decodeJwt(user.accessToken).payload.sid as string;
    for (const origin of [`http://127.0.0.1:${sameSite.port}`, `http://localhost:${sameSite.port}`]) {
      const page = await openPage(origin);
      const deleted = await pageFetch(page, `${api}/auth/sessions/${sid}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${user.accessToken}` },
      });
      expect(deleted.error, origin).toMatch(/TypeError/);
      const patched = await pageFetch(page, `${api}/users/${user.id}`, {
        method: 'PATCH',
        headers: { ...JSON_TYPE, authorization: `Bearer ${admin.body.accessToken}` },
        body: { roles: ['user', 'admin'] },
      });
      expect(patched.error, origin).toMatch(/TypeError/);
    }
    expect((await sessionRow(sid)).revokedAt).toBeNull();
    const [row] = await t.connection.db.select().from(users).where(eq(users.id, user.id));
    expect(row!.roles).toEqual(['user']);
  });

  it('a page on another origin of the same site gets the cookie sent, yet cannot refresh or sign out with it', async () => {
    const appPage = await openPage(`http://127.0.0.1:${trusted.port}`);
    const user = await signupInCookieMode(appPage);
    const sid = decodeJwt(user.accessToken).payload.sid as string;
    const before = await sessionRow(sid);
    const [cookieBefore] = await appPage.context().cookies(`${api}/auth`);

    // The same browser (same cookie jar), a page on another port of 127.0.0.1.
    const evil = await openPage(`http://127.0.0.1:${sameSite.port}`, appPage);
    const seen: { path: string; cookie?: string; status: number }[] = [];
    const listener = (request: IncomingMessage, response: ServerResponse) => {
      if (request.headers.origin !== `http://127.0.0.1:${sameSite.port}`) return;
      response.once('finish', () =>
        seen.push({ path: request.url ?? '', cookie: request.headers.cookie, status: response.statusCode }),
      );
    };
    const server = t.app.getHttpServer();
    server.on('request', listener);
    const attempts = [
      pageFetch(evil, `${api}/auth/refresh?cookie=1`, { method: 'POST' }),
      pageFetch(evil, `${api}/auth/refresh`, { method: 'POST' }),
      pageFetch(evil, `${api}/auth/refresh?cookie=1`, { method: 'POST', mode: 'no-cors' }),
      pageFetch(evil, `${api}/auth/signout`, { method: 'POST', mode: 'no-cors' }),
      pageFetch(evil, `${api}/auth/signout/all`, { method: 'POST' }),
    ];
    const outcomes = await Promise.all(attempts);
    server.off('request', listener);
    // CORS keeps every answer from the page (an opaque one in no-cors mode): nothing readable.
    for (const outcome of outcomes) expect(outcome.status ?? 0, JSON.stringify(outcome)).toBe(0);
    // The requests did reach the service, with the cookie (SameSite does not stop them), and were refused.
    expect(seen.filter((request) => request.cookie?.includes('gh_refresh')).length).toBeGreaterThanOrEqual(3);
    for (const request of seen) {
      if (request.path.startsWith('/auth/refresh')) expect(request.status, request.path).toBe(403);
      else expect(request.status, request.path).toBe(401);
    }
    // Nothing changed: the session is live, not rotated, and the app's cookie still works.
    const after = await sessionRow(sid);
    expect(after.revokedAt).toBeNull();
    expect(after.refreshGeneration).toBe(before.refreshGeneration);
    expect(await appPage.context().cookies(`${api}/auth`)).toEqual([cookieBefore]);
    const own = await pageFetch(appPage, `${api}/auth/refresh?cookie=1`, { method: 'POST' });
    expect(own.status, JSON.stringify(own)).toBe(200);
  });

  it('a page on another site cannot use the cookie either (SameSite=Strict keeps it home)', async () => {
    const appPage = await openPage(`http://127.0.0.1:${trusted.port}`);
    const user = await signupInCookieMode(appPage);
    const sid = decodeJwt(user.accessToken).payload.sid as string;
    const before = await sessionRow(sid);
    const evil = await openPage(`http://localhost:${sameSite.port}`, appPage);
    const outcome = await pageFetch(evil, `${api}/auth/refresh?cookie=1`, { method: 'POST' });
    expect(outcome.status ?? 0).toBe(0);
    const after = await sessionRow(sid);
    expect(after.refreshGeneration).toBe(before.refreshGeneration);
    expect(after.revokedAt).toBeNull();
  });
});
