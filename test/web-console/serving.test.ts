import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONSOLE_CSP, CONSOLE_DIR } from '../../src/web-console/web-console.js';
import { expectError } from '../support/http.js';
import { useTestApp } from '../support/test-app.js';

/**
 * The console's files as the service serves them at /console (the test run's global set-up builds
 * dist/console with `npm run build`): public, under a strict Content-Security-Policy, the page never
 * cached and the hashed assets for a year, every client-side route answered with the page, and
 * nothing outside the build's directory.
 */
describe('serving the web console at /console', () => {
  const { http } = useTestApp();
  const assets = readdirSync(join(CONSOLE_DIR, 'assets'));
  const script = assets.find((name) => name.endsWith('.js'))!;
  const style = assets.find((name) => name.endsWith('.css'))!;

  it('serves the page without a token, under a CSP without unsafe-inline or eval', async () => {
    for (const path of ['/console', '/console/', '/console/index.html']) {
      const reply = await http.get(path);
      expect(reply.status, path).toBe(200);
      expect(reply.headers['content-type']).toMatch(/^text\/html/);
      expect(reply.headers['cache-control']).toBe('no-cache');
      expect(reply.headers['content-security-policy']).toBe(CONSOLE_CSP);
      expect(reply.text).toContain('<div id="app">');
    }
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).toContain("style-src 'self'");
    expect(CONSOLE_CSP).toContain("frame-ancestors 'none'");
    expect(CONSOLE_CSP).not.toMatch(/unsafe-(inline|eval)/);
  });

  it('builds a page with no inline script or style, which the CSP would block', () => {
    const page = readFileSync(join(CONSOLE_DIR, 'index.html'), 'utf8');
    const scripts = [...page.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [tag, body] of scripts) {
      expect(tag).toMatch(/\bsrc="\/console\/assets\//);
      expect(body).toBe('');
    }
    expect(page).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i);
  });

  it('answers the console’s own routes (the mailed links among them) with the page', async () => {
    for (const path of [
      '/console/signin',
      '/console/reset-password',
      '/console/verify-email',
      '/console/confirm-email',
      '/console/admin/users/0192d2f4-0000-7000-8000-000000000000',
    ]) {
      const reply = await http.get(path);
      expect(reply.status, path).toBe(200);
      expect(reply.text, path).toContain('<div id="app">');
      expect(reply.headers['cache-control']).toBe('no-cache');
    }
  });

  it('serves the hashed assets with a year-long, immutable cache and their type', async () => {
    const js = await http.get(`/console/assets/${script}`);
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toMatch(/^(text|application)\/javascript/);
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const css = await http.get(`/console/assets/${style}`);
    expect(css.status).toBe(200);
    expect(css.headers['content-type']).toMatch(/^text\/css/);
    const icon = await http.get('/console/favicon.svg');
    expect(icon.status).toBe(200);
    expect(icon.headers['content-type']).toMatch(/^image\/svg\+xml/);
  });

  it('answers 404 in the error shape for a file that is not there, and never reaches outside the build', async () => {
    for (const path of [
      '/console/assets/nothing-here.js',
      '/console/nothing.png',
      '/console/../package.json',
      '/console/%2e%2e/%2e%2e/package.json',
      '/console/assets/..%2f..%2f..%2fpackage.json',
      '/console/%2e%2e%2f%2e%2e%2fsrc%2fmain.ts',
      '/console/.vite/manifest.json',
      '/console/assets',
    ]) {
      const reply = await http.get(path);
      expect(reply.text, path).not.toContain('"name": "gatehouse"');
      expect(reply.text, path).not.toContain('bootstrap');
      if (reply.status === 404) expectError(reply, 404, 'not_found');
      else expect(reply.text, path).toContain('<div id="app">'); // a client-side route: the page
    }
  });

  it('answers only reads: a POST to the console is not a route', async () => {
    const reply = await http.post('/console/signin', { body: {} });
    expect(reply.status).toBe(404);
  });
});
