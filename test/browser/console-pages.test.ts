import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { beforeAll, expect, it } from 'vitest';
import { describeWithBrowser, useBrowser } from '../support/browser.js';
import {
  consolePage,
  fill,
  pageProblems,
  ROOT_EMAIL,
  ROOT_PASSWORD,
  screenshotDir,
  useConsoleService,
} from '../support/console.js';
import { GOOD_PASSWORD, uniqueEmail } from '../support/http.js';
import { enableMfa, nextStep, totpAt, useFakeClock } from '../support/mfa.js';
import { ROOT } from '../support/process.js';

const AXE_SOURCE = readFileSync(join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');
const SCHEMES = ['light', 'dark'] as const;
const WIDTHS = [1280, 375] as const;

interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * Every page of the console, light and dark: an axe-core scan (no serious or critical
 * violation), no script error, console error or CSP violation, and a screenshot at desktop
 * (1280) and phone (375) width in test-results/screenshots/.
 */
describeWithBrowser('web console: every page, light and dark, desktop and phone', () => {
  useFakeClock(); // enableMfa takes a TOTP code of a time step of its own
  const service = useConsoleService();
  const browser = useBrowser();
  const found: string[] = [];
  const seen: string[] = [];
  const dir = screenshotDir();
  const userEmail = uniqueEmail('pages');
  const mfaEmail = uniqueEmail('pages-mfa');

  beforeAll(async () => {
    await service.http.signup(userEmail);
    const mfaUser = await service.http.signup(mfaEmail);
    await enableMfa(service.http, mfaUser);
  });

  /** Scans and photographs the page as it is now, in both schemes and both widths. */
  async function capture(page: Page, name: string): Promise<void> {
    seen.push(name);
    for (const scheme of SCHEMES) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.setViewportSize({ width: 1280, height: 900 });
      for (const violation of await axe(page)) {
        found.push(
          `${name} (${scheme}): ${violation.impact} ${violation.id} — ${violation.help} at ` +
            violation.nodes.map((node) => node.target.join(' ')).join(', '),
        );
      }
      for (const width of WIDTHS) {
        await page.setViewportSize({ width, height: width === 375 ? 812 : 900 });
        await page.screenshot({
          path: join(dir, `${name}-${scheme}-${width}.png`),
          fullPage: true,
          animations: 'disabled',
        });
      }
    }
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1280, height: 900 });
  }

  /**
   * axe-core, evaluated through the DevTools protocol: the page's CSP (script-src 'self') stays
   * on, and an injected <script> would be a violation of it.
   */
  async function axe(page: Page): Promise<Violation[]> {
    if (!(await page.evaluate('typeof window.axe !== "undefined"'))) await page.evaluate(AXE_SOURCE);
    const result = await page.evaluate<{ violations: Violation[]; passes: unknown[] }>(
      `axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })`,
    );
    expect(result.passes.length, 'axe ran its rules').toBeGreaterThan(10);
    return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  }

  const heading = (page: Page, name: string | RegExp) =>
    page
      .getByRole('heading', { name, exact: typeof name === 'string' })
      .first()
      .waitFor();

  async function signIn(page: Page, email: string, password: string): Promise<void> {
    await page.goto(service.url('/signin'));
    await fill(page, 'Email', email);
    await fill(page, 'Password', password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  it('the signed-out pages and the mailed links’ pages', async () => {
    const page = await consolePage(browser);
    for (const [name, path, title] of [
      ['signin', '/signin', 'Sign in'],
      ['signup', '/signup', 'Create an account'],
      ['forgot-password', '/forgot-password', 'Forgot your password?'],
      ['reset-password', `/reset-password#token=gh_lt_${'a'.repeat(43)}`, 'Choose a new password'],
      ['verify-email', '/verify-email', 'Verify your email'],
      ['confirm-email', `/confirm-email#token=gh_lt_${'b'.repeat(43)}`, 'Confirm your new email'],
      ['not-found', '/no-such-page', 'Page not found'],
    ] as const) {
      await page.goto('about:blank');
      await page.goto(service.url(path));
      await heading(page, title);
      await capture(page, name);
    }
    // A form with its errors beside the fields.
    await page.goto(service.url('/signin'));
    await fill(page, 'Email', userEmail);
    await fill(page, 'Password', 'not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('.field-error').first().waitFor();
    await capture(page, 'signin-error');

    await signIn(page, mfaEmail, GOOD_PASSWORD);
    await heading(page, 'Two-factor authentication');
    await capture(page, 'signin-mfa');
    expect(pageProblems(browser, page)).toEqual([]);
  });

  it('the account pages', async () => {
    const page = await consolePage(browser);
    await signIn(page, userEmail, GOOD_PASSWORD);
    await heading(page, 'Your account');
    await capture(page, 'account');
    for (const [name, path, title] of [
      ['sessions', '/account/sessions', 'Sessions'],
      ['password', '/account/password', 'Change password'],
      ['email', '/account/email', 'Change email'],
      ['security', '/account/security', 'Two-factor authentication'],
      ['forbidden', '/admin/users', 'Not allowed'],
    ] as const) {
      await page.goto(service.url(path));
      await heading(page, title);
      await capture(page, name);
    }
    await page.goto(service.url('/account/sessions'));
    await page.getByRole('button', { name: 'Sign out everywhere' }).click();
    await page.getByRole('dialog').waitFor();
    await capture(page, 'sessions-dialog');

    await page.goto(service.url('/account/security'));
    await fill(page, 'Current password', GOOD_PASSWORD);
    await page.getByRole('button', { name: 'Set up authenticator app' }).click();
    await page.getByRole('img', { name: /QR code/ }).waitFor();
    await capture(page, 'security-scan');
    const secret = (await page.locator('#totp-secret').innerText()).replace(/\s/g, '');
    await fill(page, 'Code from the app', totpAt(secret, nextStep()));
    await page.getByRole('button', { name: 'Turn on two-factor authentication' }).click();
    await heading(page, 'Save your recovery codes');
    await capture(page, 'security-recovery-codes');
    await page.getByRole('button', { name: 'I have stored them' }).click();
    await page.getByText('Two-factor authentication is on.').waitFor();
    await capture(page, 'security-on');
    expect(pageProblems(browser, page)).toEqual([]);
  });

  it('the admin pages', async () => {
    const page = await consolePage(browser);
    await signIn(page, ROOT_EMAIL, ROOT_PASSWORD);
    await heading(page, 'Your account');
    await page.goto(service.url('/admin/users'));
    await page.locator('table tbody tr').first().waitFor();
    await capture(page, 'admin-users');
    await page.getByRole('link', { name: userEmail }).click();
    await heading(page, userEmail);
    await capture(page, 'admin-user');
    await page.getByRole('button', { name: 'Delete account' }).click();
    await page.getByRole('dialog').waitFor();
    await capture(page, 'admin-user-dialog');
    await page.keyboard.press('Escape');
    await page.goto(service.url('/admin/audit'));
    await page.locator('table tbody tr').first().waitFor();
    await capture(page, 'admin-audit');
    await page.goto(service.url('/admin/users?email=nobody-has-this-prefix'));
    await page.getByText(/No user’s email starts with/).waitFor();
    await capture(page, 'admin-users-empty');
    expect(pageProblems(browser, page)).toEqual([]);
  });

  it('found no serious or critical accessibility violation on any page', () => {
    expect(seen.length).toBeGreaterThanOrEqual(20);
    expect(found).toEqual([]);
  });
});
