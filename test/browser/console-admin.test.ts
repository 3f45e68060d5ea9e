import type { Page } from 'playwright-core';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { describeWithBrowser, useBrowser } from '../support/browser.js';
import {
  consolePage,
  poll,
  fill,
  pageProblems,
  ROOT_EMAIL,
  ROOT_PASSWORD,
  useConsoleService,
} from '../support/console.js';
import { type AuthBody, GOOD_PASSWORD } from '../support/http.js';
import { enableMfa, useFakeClock } from '../support/mfa.js';

/**
 * The console's admin pages, driven as the first admin (ADMIN_EMAIL / ADMIN_PASSWORD): users
 * with search and paging, every change to a user behind its confirmation dialog (and checked in
 * the API afterwards), and the audit events with their filters.
 */
describeWithBrowser('web console: admin pages', () => {
  useFakeClock(); // enableMfa takes a TOTP code of a time step of its own
  const service = useConsoleService();
  const browser = useBrowser();
  const prefix = `adm${process.pid}x${Date.now()}`;
  const users: (AuthBody & { email: string })[] = [];
  let page: Page;

  beforeAll(async () => {
    // 23 accounts under one prefix: two pages of 20.
    for (let i = 0; i < 23; i++) {
      const email = `${prefix}-${String(i).padStart(2, '0')}@example.com`;
      users.push(await service.http.signup(email));
    }
    page = await consolePage(browser);
    await page.goto(service.url('/signin'));
    await fill(page, 'Email', ROOT_EMAIL);
    await fill(page, 'Password', ROOT_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await heading('Your account');
  });

  afterEach(() => {
    expect(pageProblems(browser, page)).toEqual([]);
  });

  const heading = (name: string) => page.getByRole('heading', { name, exact: true }).waitFor();
  const rows = () => page.locator('table tbody tr');
  const emailsShown = () => page.locator('table tbody tr td:first-child a').allInnerTexts();
  const adminToken = async () => (await service.http.signin(ROOT_EMAIL, ROOT_PASSWORD)).accessToken;

  /** Opens the action's dialog, checks what it says, confirms, and waits for it to close. */
  async function confirmAction(button: string, dialogTitle: RegExp, confirm: string): Promise<void> {
    await page.getByRole('button', { name: button, exact: true }).click();
    const dialog = page.getByRole('dialog', { name: dialogTitle });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: confirm, exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
  }

  it('searches users by the start of their email and pages through them', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
    await heading('Users');
    await page.getByText(ROOT_EMAIL).waitFor();

    await fill(page, 'Email starts with', prefix.toUpperCase());
    await page.getByRole('button', { name: 'Search' }).click();
    await poll(emailsShown).toEqual(
      users
        .slice(3)
        .map((u) => u.email)
        .reverse(),
    );
    expect(page.url()).toContain(`email=${prefix.toUpperCase()}`);
    await page.getByText('Page 1').waitFor();

    await page.getByRole('button', { name: 'Next →' }).click();
    await poll(emailsShown).toEqual(
      users
        .slice(0, 3)
        .map((u) => u.email)
        .reverse(),
    );
    await page.getByText('Page 2').waitFor();
    expect(await page.getByRole('button', { name: 'Next →' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: '← Previous' }).click();
    await poll(() => rows().count()).toBe(20);

    await fill(page, 'Email starts with', `${prefix}-nobody`);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText(/No user’s email starts with/).waitFor();
    expect(await rows().count()).toBe(0);
  });

  it('changes a user’s roles, disables and enables the account, each after a confirmation', async () => {
    const target = users[5]!;
    await page.goto(service.url(`/admin/users?email=${encodeURIComponent(target.email)}`));
    await page.getByRole('link', { name: target.email }).click();
    await heading(target.email);

    await page.getByRole('checkbox', { name: 'admin' }).check();
    await confirmAction('Save roles', /Change the roles/, 'Change roles');
    await page.getByText('The roles are changed.').waitFor();
    let view = (await service.http.get(`/users/${target.id}`, { token: await adminToken() })).body;
    expect(view.roles.sort()).toEqual(['admin', 'user']);

    await page.getByRole('checkbox', { name: 'admin' }).uncheck();
    await confirmAction('Save roles', /Change the roles/, 'Change roles');
    await poll(
      async () => (await service.http.get(`/users/${target.id}`, { token: await adminToken() })).body.roles,
    ).toEqual(['user']);

    await confirmAction('Disable', /Disable/, 'Disable');
    await page.getByText('The account is disabled.').waitFor();
    await page.getByText('Disabled', { exact: true }).waitFor();
    view = (await service.http.get(`/users/${target.id}`, { token: await adminToken() })).body;
    expect(view.disabled).toBe(true);
    expect((await service.http.get('/users/me', { token: target.accessToken })).status).toBe(401);

    await confirmAction('Enable', /Enable/, 'Enable');
    await page.getByText('The account is enabled.').waitFor();
    view = (await service.http.get(`/users/${target.id}`, { token: await adminToken() })).body;
    expect(view.disabled).toBe(false);
  });

  it('shows the API’s refusal in the dialog: the last admin cannot lose the admin role', async () => {
    const root = (await service.http.signin(ROOT_EMAIL, ROOT_PASSWORD)).id;
    await page.goto(service.url(`/admin/users/${root}`));
    await heading(ROOT_EMAIL);
    await page.getByRole('checkbox', { name: 'admin' }).uncheck();
    await page.getByRole('button', { name: 'Save roles' }).click();
    const dialog = page.getByRole('dialog', { name: /Change the roles/ });
    await dialog.getByRole('button', { name: 'Change roles' }).click();
    await dialog.getByRole('alert').filter({ hasText: /admin/i }).waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  });

  it('revokes a user’s sessions and resets their two-factor authentication', async () => {
    const target = users[6]!;
    await enableMfa(service.http, { accessToken: target.accessToken, password: GOOD_PASSWORD });
    expect((await service.http.get('/users/me', { token: target.accessToken })).status).toBe(200);
    await page.goto(service.url(`/admin/users/${target.id}`));
    await heading(target.email);
    await page.getByText('2FA', { exact: true }).waitFor();

    await confirmAction('Revoke sessions', /Sign .* out everywhere/, 'Sign out everywhere');
    await page.getByText('Every session of the user has ended.').waitFor();
    expect((await service.http.get('/users/me', { token: target.accessToken })).status).toBe(401);
    const challenge = await service.http.post('/auth/signin', {
      body: { email: target.email, password: GOOD_PASSWORD },
    });
    expect(challenge.body.mfaRequired).toBe(true);

    await confirmAction('Reset two-factor', /Reset two-factor/, 'Reset two-factor');
    await page.getByText('Two-factor authentication is reset.').waitFor();
    const view = (await service.http.get(`/users/${target.id}`, { token: await adminToken() })).body;
    expect(view.mfaEnabled).toBe(false);
    const plain = await service.http.post('/auth/signin', {
      body: { email: target.email, password: GOOD_PASSWORD },
    });
    expect(plain.body.accessToken).toEqual(expect.any(String));
    const sessions = await service.http.get('/auth/sessions', { token: plain.body.accessToken });
    expect(sessions.body).toHaveLength(1);
  });

  it('deletes a user after a confirmation, and the audit events keep the record, filtered by type and user', async () => {
    const target = users[7]!;
    await page.goto(service.url(`/admin/users/${target.id}`));
    await heading(target.email);
    await confirmAction('Delete account', /Delete/, 'Delete account');
    await heading('Users');
    await page.getByText(`${target.email} was deleted.`).waitFor();
    expect((await service.http.get(`/users/${target.id}`, { token: await adminToken() })).status).toBe(404);

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).click();
    await heading('Audit events');
    await poll(() => rows().count()).toBe(20);
    await page.getByRole('button', { name: 'Next →' }).click();
    await page.getByText('Page 2').waitFor();

    await page.getByLabel('Type').selectOption('user_deleted');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await poll(() => page.locator('table tbody tr td:nth-child(2)').allInnerTexts()).toContain(
      'user_deleted',
    );
    expect(new Set(await page.locator('table tbody tr td:nth-child(2)').allInnerTexts())).toEqual(
      new Set(['user_deleted']),
    );

    await page.getByLabel('Type').selectOption('');
    await fill(page, 'User id', 'not-a-user-id');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await poll(() => page.getByLabel('User id').getAttribute('aria-invalid')).toBe('true');

    await fill(page, 'User id', target.id);
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await poll(() => page.locator('table tbody tr td:nth-child(2)').allInnerTexts()).toEqual(
      expect.arrayContaining(['signup', 'user_deleted']),
    );
    // Every row is about that user (the User column links to the account).
    const linked = await page
      .locator('table tbody tr td:nth-child(3) a')
      .evaluateAll((links) => links.map((link) => link.getAttribute('href')));
    expect(new Set(linked)).toEqual(new Set([`/console/admin/users/${target.id}`]));

    await fill(page, 'User id', users[8]!.id);
    await page.getByLabel('Type').selectOption('roles_changed');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('No events match').waitFor();
  });
});
