import type { AddressInfo } from 'node:net';
import { beforeAll, expect, it } from 'vitest';
import { describeWithBrowser, useBrowser } from '../support/browser.js';
import { useTestApp } from '../support/test-app.js';

/** The interactive documentation under its Content-Security-Policy (no inline script): it still works. */
describeWithBrowser('/docs in a real browser', () => {
  const browser = useBrowser();
  const { t } = useTestApp();
  let base: string;
  beforeAll(async () => {
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
  });

  it('renders the operations with no CSP violation and no console error', async () => {
    const page = await browser.page();
    const violations: string[] = [];
    await page.exposeFunction('reportViolation', (text: string) => violations.push(text));
    await page.addInitScript(
      'document.addEventListener("securitypolicyviolation", (e) => reportViolation(e.violatedDirective + " " + e.blockedURI))',
    );
    const response = await page.goto(`${base}/docs`);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    // The page is Swagger UI's, built by its (external) initializer: the title and the operations appear.
    await page.getByText('Gatehouse', { exact: false }).first().waitFor({ timeout: 60_000 });
    await page
      .locator('.opblock-summary-path', { hasText: '/auth/refresh' })
      .first()
      .waitFor({ timeout: 60_000 });
    expect(violations).toEqual([]);
    expect(browser.problems(page)).toEqual([]);
  });
});
