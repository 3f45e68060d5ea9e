import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { buildService } from '../support/process.js';

/**
 * Set-up that fails after the database opened — here a KEY_ENCRYPTION_SECRET
 * other than the one the signing keys were stored with — used to leave the
 * pool, the embedded server and the auth-change listener running: the CLI
 * printed its error and never exited, and its server outlived it. Now: one
 * plain line, exit 1, the server stopped and DATA_DIR usable again at once.
 */
describe('the command line when set-up fails after the database opened', () => {
  const RIGHT = 'the-right-key-encryption-secret-0123456789';
  const WRONG = 'another-key-encryption-secret-9876543210ab';
  let dataDir: string;
  const postmasterPid = () => join(dataDir, 'pg', 'postmaster.pid');

  beforeAll(async () => {
    buildService();
    dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-cli-fail-'));
    const first = await runCli(['keys', 'list'], { DATA_DIR: dataDir, KEY_ENCRYPTION_SECRET: RIGHT });
    expect(first.code, first.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    // A CLI that hung was killed with SIGKILL: the server it started outlives it. Stop that one (by its pid).
    if (existsSync(postmasterPid())) {
      const pid = Number.parseInt(readFileSync(postmasterPid(), 'utf8').split('\n')[0]!, 10);
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {
        // gone already
      }
    }
    await rm(dataDir, { recursive: true, force: true });
  });

  function expectOneClearLine(run: { stderr: string; stdout: string }, pattern: RegExp): void {
    const lines = run.stderr.trim().split('\n');
    expect(lines, run.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^gatehouse: /);
    expect(lines[0]).toMatch(pattern);
    expect(run.stderr + run.stdout).not.toContain('[object Object]');
    expect(run.stderr + run.stdout).not.toMatch(/^\s+at /m);
    expect(run.stderr + run.stdout).not.toContain(WRONG);
  }

  for (const [name, args, stdin] of [
    ['keys list', ['keys', 'list'], ''],
    ['admin create', ['admin', 'create', '--email', 'cli.fail@example.com'], 'first correct horse battery\n'],
  ] as const) {
    it(`${name} with another KEY_ENCRYPTION_SECRET: one line, exit 1, promptly; the server stopped`, async () => {
      const run = await runCli(
        [...args],
        { DATA_DIR: dataDir, KEY_ENCRYPTION_SECRET: WRONG },
        { stdin, timeoutMs: 45_000 },
      );
      expect(run.signal, `still running after 45 s (killed)\n${run.stderr}`).toBeNull();
      expect(run.code).toBe(1);
      expectOneClearLine(run, /KEY_ENCRYPTION_SECRET differs/);
      // The embedded server shut down cleanly (it removes its pid file) and DATA_DIR is unlocked.
      expect(existsSync(postmasterPid())).toBe(false);
    }, 60_000);
  }

  it('DATA_DIR is usable at once with the right secret, and nothing was created', async () => {
    const keys = await runCli(['keys', 'list'], { DATA_DIR: dataDir, KEY_ENCRYPTION_SECRET: RIGHT });
    expect(keys.code, keys.stderr).toBe(0);
    expect(keys.stdout.trim().split('\n')).toHaveLength(1);
    // admin create above failed before it could create the account: now it asks for a password.
    const again = await runCli(
      ['admin', 'create', '--email', 'cli.fail@example.com'],
      { DATA_DIR: dataDir, KEY_ENCRYPTION_SECRET: RIGHT },
      { stdin: 'first correct horse battery\n' },
    );
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/created with the admin role/);
  }, 120_000);
});
