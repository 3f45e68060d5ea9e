import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, inject } from 'vitest';
import { CHROMIUM_PATH } from './browser-path.js';

/**
 * A suite that drives a real browser: skipped (and said so at the start of the run) when Chromium
 * is not installed; CI sets GATEHOUSE_REQUIRE_BROWSER, so there it fails instead.
 */
export const describeWithBrowser = describe.skipIf(!inject('chromiumAvailable'));

/**
 * Flags for a sandboxed machine: no sandbox (CI runs as root), and none of Chromium's own network
 * traffic (update checks, sync, component downloads), which this machine's closed network refuses.
 */
const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export interface BrowserHandle {
  browser: Browser;
  /** A fresh context (own cookies and storage), closed with the browser. */
  context(options?: Parameters<Browser['newContext']>[0]): Promise<BrowserContext>;
  /** A page in a fresh context that records console errors and CSP violations (see `problems`). */
  page(options?: Parameters<Browser['newContext']>[0]): Promise<Page>;
  /** Console errors, page errors and CSP violations seen so far, per page. */
  problems(page: Page): string[];
}

/** One Chromium for the suite (playwright gives it a fresh temporary profile): launched before its tests, closed after. */
export function useBrowser(): BrowserHandle {
  let browser: Browser | undefined;
  const seen = new WeakMap<Page, string[]>();
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: 60_000 });
  });
  afterAll(async () => {
    await browser?.close();
  });
  const handle: BrowserHandle = {
    get browser() {
      if (!browser) throw new Error('the browser is not started yet (use it inside a test or hook)');
      return browser;
    },
    context: (options) => handle.browser.newContext(options),
    page: async (options) => {
      const context = await handle.context(options);
      const page = await context.newPage();
      const problems: string[] = [];
      seen.set(page, problems);
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`console: ${message.text()}`);
      });
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      return page;
    },
    problems: (page) => seen.get(page) ?? [],
  };
  return handle;
}
