import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { beforeAll, expect } from 'vitest';
import { CONSOLE_DIR } from '../../src/web-console/web-console.js';
import { ROOT_EMAIL, ROOT_PASSWORD } from './admin.js';
import type { BrowserHandle } from './browser.js';
import type { Http } from './http.js';
import { freePort, ROOT } from './process.js';
import { useSmtpServer, type TestSmtpServer } from './smtp-server.js';
import type { TestApp } from './test-app.js';
import { useTestApp } from './test-app.js';
import { NO_THROTTLE } from './tokens.js';

export { ROOT_EMAIL, ROOT_PASSWORD };

export interface ConsoleService {
  t: TestApp;
  http: Http;
  smtp: TestSmtpServer;
  /** http://127.0.0.1:<port> — PUBLIC_URL, so the page's origin is the one CSRF trusts. */
  origin: () => string;
  /** The absolute URL of a console path (`/signin` → http://…/console/signin). */
  url: (path?: string) => string;
}

/**
 * The whole service on a real port serving the built console (dist/console: the run's global
 * set-up builds it), with a real SMTP server for its mail and a first admin (ADMIN_EMAIL /
 * ADMIN_PASSWORD). The throttles are out of the way: a browser test signs in and refreshes often.
 */
export function useConsoleService(env: Record<string, string> = {}): ConsoleService {
  let port = 0;
  beforeAll(async () => {
    port = await freePort();
    expect(existsSync(join(CONSOLE_DIR, 'index.html')), 'dist/console is built (npm run build)').toBe(true);
  });
  const smtp = useSmtpServer();
  const { t, http } = useTestApp(() => ({
    ...NO_THROTTLE,
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    SMTP_URL: smtp.url,
    ADMIN_EMAIL: ROOT_EMAIL,
    ADMIN_PASSWORD: ROOT_PASSWORD,
    ...env,
  }));
  beforeAll(async () => {
    await t.app.listen(port, '127.0.0.1');
  });
  const origin = () => `http://127.0.0.1:${port}`;
  return { t, http, smtp, origin, url: (path = '/') => `${origin()}/console${path === '/' ? '' : path}` };
}

/**
 * A page for the console: records console errors and page errors (the harness) and every
 * Content-Security-Policy violation the page reports. `problems()` lists them.
 */
export async function consolePage(
  browser: BrowserHandle,
  options: Parameters<BrowserHandle['page']>[0] = {},
): Promise<Page> {
  const page = await browser.page({ viewport: { width: 1280, height: 900 }, ...options });
  await watchCsp(page.context());
  page.setDefaultTimeout(30_000);
  return page;
}

/** Reports each CSP violation as a console error, which the harness records. */
export async function watchCsp(context: BrowserContext): Promise<void> {
  // Page code as text: the tests' own types know no DOM.
  await context.addInitScript(`
    document.addEventListener('securitypolicyviolation', (event) => {
      console.error('CSP violation: ' + event.violatedDirective + ' blocked ' + (event.blockedURI || 'inline code'));
    });
  `);
}

/**
 * What went wrong in the page: script errors, CSP violations, console errors. A 4xx answer of the
 * API that the page expects and shows (a wrong password) is logged by Chromium as a failed resource
 * load: those are left out; a 5xx is not.
 */
export function pageProblems(browser: BrowserHandle, page: Page): string[] {
  return browser
    .problems(page)
    .filter(
      (problem) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(problem),
    );
}

/** Where every page's screenshots go (gitignored). */
export const SCREENSHOTS = join(ROOT, 'test-results', 'screenshots');

export function screenshotDir(): string {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return SCREENSHOTS;
}

/** expect.poll with a bound for a busy machine (its default is one second). */
export function poll<T>(read: () => Promise<T> | T) {
  return expect.poll(read, { timeout: 30_000, interval: 100 });
}

/** The form field with this label (not a section that a heading of the same words labels). */
export function field(page: Page, label: string): Locator {
  return page.getByLabel(label, { exact: true }).and(page.locator('input, select, textarea'));
}

/** Fills a labelled field. */
export async function fill(page: Page, label: string, value: string): Promise<void> {
  await field(page, label).fill(value);
}

/** The tokens the page can see: storage and document.cookie (the refresh cookie must not be there). */
export async function visibleSecrets(page: Page): Promise<{ storage: string; cookie: string }> {
  return page.evaluate(`({
    storage: JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
    cookie: document.cookie,
  })`);
}
