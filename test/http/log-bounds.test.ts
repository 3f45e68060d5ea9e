import { describe, expect, it } from 'vitest';
import {} from '../support/http.js';
import { useTestApp } from '../support/test-app.js';

/** Generous: a request line's fixed fields, plus a few bounded fields of 512 characters and their markers. */
const MAX_LINE = 4096;
const HUGE = 15 * 1024;

describe('log lines are bounded whatever the client sends', () => {
  // The app believes X-Forwarded-For from the injected client's address: the address comes from the client too.
  const { t, http } = useTestApp({ TRUST_PROXY: '127.0.0.1' });

  /** The log lines written while `send` ran, raw. */
  async function linesOf(send: () => Promise<unknown>): Promise<string[]> {
    const before = t.rawLogs().length;
    await send();
    await t.app.getHttpAdapter().getInstance().ready();
    return t
      .rawLogs()
      .slice(before)
      .split('\n')
      .filter((line) => line !== '');
  }

  it.each([
    ['an unknown 15 KB path', `/${'a'.repeat(HUGE)}`],
    ['a 15 KB path under /auth', `/auth/${'b'.repeat(HUGE)}`],
    ['a 15 KB path under a public route', `/health/${'c'.repeat(HUGE)}`],
    ['a 15 KB path of multi-byte characters', `/${'é😀'.repeat(HUGE / 4)}`],
  ])('%s with a 15 KB user agent gives a short request line', async (_name, path) => {
    const lines = await linesOf(() =>
      http.get(path, { headers: { 'user-agent': 'Mozilla/5.0 '.repeat(HUGE / 12) } }),
    );
    const requestLine = lines.map((line) => JSON.parse(line)).find((entry) => entry.msg === 'request');
    expect(requestLine, 'the request is logged').toBeDefined();
    for (const line of lines) expect(line.length).toBeLessThan(MAX_LINE);
    expect(requestLine.path.length).toBeLessThan(600);
    expect(requestLine.path).toMatch(/…\[truncated: \d+ characters\]$/);
    // The path as the client sent it (percent-encoded), up to the cut.
    expect(requestLine.path.startsWith(encodeURI(path).slice(0, 100))).toBe(true);
  });

  it('a 15 KB address from a trusted X-Forwarded-For is cut too', async () => {
    const lines = await linesOf(() =>
      http.get('/health/live', { headers: { 'x-forwarded-for': `${'1'.repeat(HUGE)}` } }),
    );
    const requestLine = lines.map((line) => JSON.parse(line)).find((entry) => entry.msg === 'request');
    expect(requestLine.statusCode).toBe(200);
    for (const line of lines) expect(line.length).toBeLessThan(MAX_LINE);
    expect(requestLine.ip).toMatch(/…\[truncated: \d+ characters\]$/);
  });

  it('a short path is logged as it is', async () => {
    const lines = await linesOf(() => http.get('/health/live'));
    const requestLine = lines.map((line) => JSON.parse(line)).find((entry) => entry.msg === 'request');
    expect(requestLine.path).toBe('/health/live');
  });
});
