import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { afterEach, expect, it } from 'vitest';
import { describeWithBrowser, useBrowser } from '../support/browser.js';
import {
  consolePage,
  field,
  poll,
  fill,
  pageProblems,
  useConsoleService,
  visibleSecrets,
} from '../support/console.js';
import { GOOD_PASSWORD, uniqueEmail } from '../support/http.js';
import { nextStep, totpAt, useFakeClock } from '../support/mfa.js';

/**
 * Every account flow of the web console, end to end: a real Chromium on the built console, the
 * service on a real port, a real SMTP server whose mail the test opens. The flows build on each
 * other (one account, in order), as a person would use them.
 */
describeWithBrowser('web console: account flows', () => {
  // TOTP codes: each from a time step of its own (the service takes a step once per user).
  useFakeClock();
  const service = useConsoleService();
  const browser = useBrowser();
  const email = uniqueEmail('console');
  const newEmail = uniqueEmail('console-new');
  let password = GOOD_PASSWORD;
  let secret = '';
  let recoveryCodes: string[] = [];
  const pages: Page[] = [];

  const open = async () => {
    const page = await consolePage(browser);
    pages.push(page);
    return page;
  };

  afterEach(() => {
    // No script error, console error or CSP violation on any page of the test.
    for (const page of pages.splice(0)) expect(pageProblems(browser, page)).toEqual([]);
  });

  /** Presses the button, then the dialog's confirming button, and waits for the dialog to close. */
  async function confirmIn(page: Page, button: string, title: string, confirm: string): Promise<void> {
    await page.getByRole('button', { name: button, exact: true }).click();
    const dialog = page.getByRole('dialog', { name: title });
    await dialog.getByRole('button', { name: confirm, exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
  }

  const heading = (page: Page, name: string) => page.getByRole('heading', { name, exact: true }).waitFor();

  async function signIn(page: Page, as = email, with_ = password): Promise<void> {
    await page.goto(service.url('/signin'));
    await fill(page, 'Email', as);
    await fill(page, 'Password', with_);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  it('signs up, verifies the email from the mail, and keeps the session across a reload with no token the page can read', async () => {
    const page = await open();
    await page.goto(service.url('/'));
    await heading(page, 'Sign in');
    await page.getByRole('link', { name: 'Create an account' }).click();
    await heading(page, 'Create an account');

    // Errors beside their field: two passwords that differ, then a taken email (the admin's).
    await fill(page, 'Email', email);
    await fill(page, 'Password', password);
    await fill(page, 'Password again', 'something else entirely');
    await page.getByRole('button', { name: 'Create account' }).click();
    await expectFieldError(page, 'Password again', 'The two passwords differ.');
    await fill(page, 'Password again', password);
    await fill(page, 'Email', 'ROOT@example.com');
    await page.getByRole('button', { name: 'Create account' }).click();
    await expectFieldError(page, 'Email', /already/i);

    const verification = service.smtp.nextMailTo(email, 'Verify your email');
    await fill(page, 'Email', email);
    await page.getByRole('button', { name: 'Create account' }).click();
    await heading(page, 'Your account');
    await page.getByText('Not verified').first().waitFor();

    // The link of the mail: the token rides in the fragment, and leaves the address bar at once.
    const mail = await verification;
    expect(mail.link).toMatch(new RegExp(`^${service.origin()}/console/verify-email#token=`));
    await page.goto(mail.link!);
    await heading(page, 'Verify your email');
    expect(page.url()).not.toContain('#token');
    await page.getByRole('button', { name: 'Verify my email' }).click();
    await page.getByText('Email verified', { exact: true }).waitFor();
    await page.getByRole('link', { name: 'Go to your account' }).click();
    await page.getByText('Verified', { exact: true }).waitFor();

    // A reload: the page holds no access token any more and gets one with the HttpOnly cookie.
    const refreshed = page.waitForResponse((r) => r.url().includes('/auth/refresh') && r.status() === 200);
    await page.reload();
    const { accessToken } = (await (await refreshed).json()) as { accessToken: string };
    await heading(page, 'Your account');
    await page.getByText(email).first().waitFor();

    const cookies = await page.context().cookies();
    const refresh = cookies.find((cookie) => cookie.name === 'gh_refresh');
    expect(refresh).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/auth' });
    const { storage, cookie } = await visibleSecrets(page);
    expect(cookie).not.toContain('gh_refresh');
    expect(cookie).not.toContain(refresh!.value);
    for (const secretValue of [accessToken, refresh!.value, 'gh_rt_', 'eyJ']) {
      expect(storage).not.toContain(secretValue);
    }
  });

  it('changes the password, with a wrong current password shown beside its field', async () => {
    const page = await open();
    await signIn(page);
    await heading(page, 'Your account');
    await page.getByRole('link', { name: 'Change your password' }).click();
    await heading(page, 'Change password');
    await fill(page, 'Current password', 'not my password at all');
    await fill(page, 'New password', 'a brand new passphrase 1');
    await fill(page, 'New password again', 'a brand new passphrase 1');
    await page.getByRole('button', { name: 'Change password' }).click();
    await expectFieldError(page, 'Current password', /invalid/i);
    // The field in error has the focus: a keyboard user lands on it.
    expect(await page.evaluate('document.activeElement?.id')).toBe('field-currentPassword');

    await fill(page, 'Current password', password);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('Password changed. Your other devices were signed out.').waitFor();
    password = 'a brand new passphrase 1';
  });

  it('signs out everywhere, lists the sessions and signs another device out, with a dialog that keeps the focus and closes on Escape', async () => {
    const first = await open();
    await signIn(first);
    await heading(first, 'Your account');
    await first.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sessions' }).click();
    await confirmIn(first, 'Sign out everywhere', 'Sign out everywhere?', 'Sign out everywhere');
    await heading(first, 'Sign in');
    await first.getByText('You were signed out on every device.').waitFor();

    const other = await open();
    await signIn(other);
    await heading(other, 'Your account');

    const page = await open();
    await signIn(page);
    await heading(page, 'Your account');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sessions' }).click();
    await heading(page, 'Sessions');
    const rows = page.locator('table tbody tr');
    await poll(() => rows.count()).toBe(2);
    await page.getByText('This device').waitFor();

    // Keyboard only: open the dialog with Enter, Tab stays inside it, Escape closes it and the
    // focus returns to the button that opened it.
    const revoke = page.getByRole('button', { name: 'Sign out device' });
    await revoke.focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Sign out this device?' });
    await dialog.waitFor();
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press('Tab');
      expect(await page.evaluate("!!document.activeElement?.closest('dialog')")).toBe(true);
    }
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect(await page.evaluate<string>('document.activeElement?.textContent')).toContain('Sign out device');
    await poll(() => rows.count()).toBe(2);

    await revoke.click();
    await dialog.getByRole('button', { name: 'Sign out device' }).click();
    await dialog.waitFor({ state: 'detached' });
    await poll(() => rows.count()).toBe(1);

    // The other browser's session is over: on its next load it is signed out.
    await other.reload();
    await heading(other, 'Sign in');
  });

  it('changes the email through the link mailed to the new address', async () => {
    const page = await open();
    await signIn(page);
    await heading(page, 'Your account');
    await page.getByRole('link', { name: 'Change your email' }).click();
    await heading(page, 'Change email');
    await fill(page, 'New email', newEmail);
    await fill(page, 'Current password', 'wrong password here');
    await page.getByRole('button', { name: 'Send confirmation link' }).click();
    await expectFieldError(page, 'Current password', /invalid/i);

    const confirmation = service.smtp.nextMailTo(newEmail, 'Confirm your new email');
    await fill(page, 'Current password', password);
    await page.getByRole('button', { name: 'Send confirmation link' }).click();
    await page.getByText('Check your new inbox').waitFor();

    const mail = await confirmation;
    await page.goto(mail.link!);
    await heading(page, 'Confirm your new email');
    await page.getByRole('button', { name: 'Confirm new email' }).click();
    await page.getByText('Email changed', { exact: true }).waitFor();

    // Every session ended with the change: sign in with the new address.
    await signIn(page, newEmail);
    await heading(page, 'Your account');
    await page.getByText(newEmail).first().waitFor();
  });

  it('sets up two-factor authentication from the QR code page, with the recovery codes to copy and download', async () => {
    const page = await open();
    await page
      .context()
      .grantPermissions(['clipboard-read', 'clipboard-write'], { origin: service.origin() });
    await signIn(page, newEmail);
    await heading(page, 'Your account');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Security' }).click();
    await heading(page, 'Two-factor authentication');
    await fill(page, 'Current password', password);
    await page.getByRole('button', { name: 'Set up authenticator app' }).click();
    await heading(page, 'Scan the code');

    // The QR code is drawn in the page (a data: image), the key shown beside it.
    const qr = page.getByRole('img', { name: /QR code/ });
    await qr.waitFor();
    expect(await qr.getAttribute('src')).toMatch(/^data:image\/png;base64,/);
    secret = (await page.locator('#totp-secret').innerText()).replace(/\s/g, '');
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/);

    await fill(page, 'Code from the app', '000000');
    await page.getByRole('button', { name: 'Turn on two-factor authentication' }).click();
    await expectFieldError(page, 'Code from the app', /code/i);
    await fill(page, 'Code from the app', totpAt(secret, nextStep()));
    await page.getByRole('button', { name: 'Turn on two-factor authentication' }).click();
    await heading(page, 'Save your recovery codes');
    recoveryCodes = await page.getByRole('list', { name: 'Recovery codes' }).locator('li').allInnerTexts();
    expect(recoveryCodes).toHaveLength(10);

    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByText('Copied to the clipboard.').waitFor();
    const copied = await page.evaluate<string>('navigator.clipboard.readText()');
    for (const code of recoveryCodes) expect(copied).toContain(code);

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('gatehouse-recovery-codes.txt');
    const saved = await readFile(await download.path(), 'utf8');
    for (const code of recoveryCodes) expect(saved).toContain(code);

    await page.getByRole('button', { name: 'I have stored them' }).click();
    await page.getByText('Two-factor authentication is on.').waitFor();

    // New recovery codes replace the old ones.
    await fill(page, 'Code from the app', totpAt(secret, nextStep()));
    await page.getByRole('button', { name: 'Get new recovery codes' }).click();
    await heading(page, 'Save your recovery codes');
    const fresh = await page.getByRole('list', { name: 'Recovery codes' }).locator('li').allInnerTexts();
    expect(fresh).toHaveLength(10);
    expect(fresh.filter((code) => recoveryCodes.includes(code))).toEqual([]);
    recoveryCodes = fresh;
    await page.getByRole('button', { name: 'I have stored them' }).click();
    await page.getByText('Two-factor authentication is on.').waitFor();
  });

  it('signs in with the second step: an authenticator code, then a recovery code; and turns two-factor off', async () => {
    const page = await open();
    await signIn(page, newEmail);
    await heading(page, 'Two-factor authentication');
    await fill(page, 'Authentication code', '123456');
    await page.getByRole('button', { name: 'Verify' }).click();
    await expectFieldError(page, 'Authentication code', /code/i);
    await fill(page, 'Authentication code', totpAt(secret, nextStep()));
    await page.getByRole('button', { name: 'Verify' }).click();
    await heading(page, 'Your account');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await heading(page, 'Sign in');

    await signIn(page, newEmail);
    await heading(page, 'Two-factor authentication');
    await page.getByRole('button', { name: 'Use a recovery code' }).click();
    await fill(page, 'Recovery code', recoveryCodes[0]!);
    await page.getByRole('button', { name: 'Verify' }).click();
    await heading(page, 'Your account');

    await page.getByRole('link', { name: 'Two-factor authentication' }).click();
    await page.getByText('Two-factor authentication is on.').waitFor();
    await fill(page, 'Code from the app, or a recovery code', recoveryCodes[1]!);
    await page.getByRole('button', { name: 'Turn off' }).click();
    await page.getByText('Two-factor authentication is off.').waitFor();
    await heading(page, 'Set up an authenticator app');
  });

  it('resets a forgotten password through the mailed link, and signs in with the new one', async () => {
    const page = await open();
    await page.goto(service.url('/signin'));
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await heading(page, 'Forgot your password?');
    const reset = service.smtp.nextMailTo(newEmail, 'Reset your password');
    await fill(page, 'Email', newEmail);
    await page.getByRole('button', { name: 'Send reset link' }).click();
    await page.getByText('Check your mail').waitFor();

    const mail = await reset;
    await page.goto(mail.link!);
    await heading(page, 'Choose a new password');
    expect(page.url()).not.toContain('#token');
    await fill(page, 'New password', 'short');
    await fill(page, 'New password again', 'short');
    await page.getByRole('button', { name: 'Set new password' }).click();
    await expectFieldError(page, 'New password', /8/);
    await fill(page, 'New password', 'the third password of this test');
    await fill(page, 'New password again', 'the third password of this test');
    await page.getByRole('button', { name: 'Set new password' }).click();
    await page.getByText('Password changed', { exact: true }).waitFor();

    // The link is single use: opened again (in a fresh load), it is refused.
    await page.goto('about:blank');
    await page.goto(mail.link!);
    await fill(page, 'New password', 'yet another password here');
    await fill(page, 'New password again', 'yet another password here');
    await page.getByRole('button', { name: 'Set new password' }).click();
    await page.getByRole('alert').filter({ hasText: /link/i }).waitFor();

    password = 'the third password of this test';
    await signIn(page, newEmail);
    await heading(page, 'Your account');
  });

  it('shows a plain user no admin page, and the API refuses the user with 403', async () => {
    const page = await open();
    await signIn(page, newEmail);
    await heading(page, 'Your account');
    const nav = page.getByRole('navigation', { name: 'Main' });
    expect(await nav.getByRole('link').allInnerTexts()).toEqual(['Account', 'Sessions', 'Security']);
    await page.goto(service.url('/admin/users'));
    await heading(page, 'Not allowed');
    // The API holds the line whatever the page shows: the session's own token gets 403.
    // (Page code as text: the test's own types know no DOM.)
    const status = await page.evaluate(`(async () => {
      const refresh = await fetch('/auth/refresh?cookie=1', { method: 'POST' });
      const { accessToken } = await refresh.json();
      const users = await fetch('/users', { headers: { authorization: 'Bearer ' + accessToken } });
      const audit = await fetch('/audit-events', { headers: { authorization: 'Bearer ' + accessToken } });
      return [users.status, audit.status];
    })()`);
    expect(status).toEqual([403, 403]);
  });
});

/** The field's error is shown beside it, tied to it (aria-describedby), and the field marked invalid. */
async function expectFieldError(page: Page, label: string, message: string | RegExp): Promise<void> {
  const input = field(page, label);
  await poll(() => input.getAttribute('aria-invalid')).toBe('true');
  const describedBy = (await input.getAttribute('aria-describedby')) ?? '';
  const errorId = describedBy.split(' ').find((id) => id.endsWith('-error'));
  expect(errorId, `${label} is described by its error`).toBeDefined();
  const text = await page.locator(`#${errorId}`).innerText();
  if (typeof message === 'string') expect(text).toBe(message);
  else expect(text).toMatch(message);
}
