import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataDirLock } from '../../src/database/data-dir-lock.js';
import { buildService, type Exit, freePort, killAll, ServiceProcess } from '../support/process.js';

/**
 * The real service (`node dist/bundle/main.js`) on a real embedded database in a
 * temporary DATA_DIR: start-up, the DATA_DIR lock between processes,
 * graceful and hard stops, and what survives a restart.
 */
// Real service processes, each start a few seconds: bounds sized for a machine busy with other work.
describe('service process', { timeout: 180_000 }, () => {
  let dataDir: string;
  let scratchDir: string;
  const timings: Record<string, number> = {};
  /** The service's own measure (main.ts logs startupMs once listening), read at the end, for comparison. */
  const reported: Record<string, ServiceProcess> = {};
  const reportedStartup = (service: ServiceProcess): number =>
    service.stdout
      .split('\n')
      .filter((line) => line.includes('"startupMs"'))
      .map((line) => (JSON.parse(line) as { startupMs: number }).startupMs)[0] ?? NaN;
  const lockFile = () => join(dataDir, 'gatehouse.lock');

  // Each process gets another port: one PUBLIC_URL (the tokens' issuer) across them, as a deployment has.
  const start = async (env: Record<string, string> = {}) =>
    new ServiceProcess(await freePort(), {
      DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
      PUBLIC_URL: 'https://gatehouse.test',
      ...env,
    });

  const json = (body: unknown): RequestInit => ({
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

  const password = 'correct horse battery staple';
  const firstUser = { email: `first.${process.pid}@example.com`, password };
  const lateUser = { email: `late.${process.pid}@example.com`, password };
  let accessTokenBeforeRestart: string;
  let running: ServiceProcess;

  beforeAll(async () => {
    buildService();
    dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-process-'));
    scratchDir = await mkdtemp(join(tmpdir(), 'gatehouse-process-scratch-'));
  }, 60_000);

  afterAll(async () => {
    await killAll();
    await rm(dataDir, { recursive: true, force: true });
    await rm(scratchDir, { recursive: true, force: true });
    if (Object.keys(timings).length > 0) {
      console.log(
        'start-up until /health/ready answers 200: ' +
          Object.entries(timings)
            .map(
              ([name, ms]) =>
                `${name} ${Math.round(ms)} ms (service-reported startupMs ${reportedStartup(reported[name]!)})`,
            )
            .join(', '),
      );
    }
  });

  it('starts on an empty DATA_DIR, holds the lock and answers /health/ready', async () => {
    running = await start();
    timings['empty DATA_DIR'] = await running.waitFor('/health/ready');
    reported['empty DATA_DIR'] = running;

    const ready = await running.fetch('/health/ready');
    expect(ready.status).toBe(200);
    expect(JSON.parse(readFileSync(lockFile(), 'utf8'))).toMatchObject({ pid: running.pid });

    const signup = await running.fetch('/auth/signup', json(firstUser));
    expect(signup.status).toBe(201);
    accessTokenBeforeRestart = ((await signup.json()) as { accessToken: string }).accessToken;
  });

  // The other suites run the application from src/; this one runs the bundle, whose packages that find
  // files beside themselves (Swagger UI, @fastify/static, zxcvbn's dictionaries) could break in it.
  it('serves from the bundle what finds files at run time: /docs, its script and document, /console', async () => {
    const page = await running.fetch('/docs');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('swagger-ui-bundle.js');
    const script = await running.fetch('/docs/swagger-ui-bundle.js');
    expect(script.status).toBe(200);
    expect((await script.text()).length).toBeGreaterThan(100_000);
    const document = await running.fetch('/docs/openapi.json');
    expect(document.status).toBe(200);
    expect(((await document.json()) as { paths: object }).paths).toHaveProperty(['/auth/signup']);
    const console = await running.fetch('/console/');
    expect(console.status).toBe(200);
    expect(await console.text()).toContain('<div id="app">');
    const weak = await running.fetch(
      '/auth/signup',
      json({ email: `weak.${process.pid}@example.com`, password: 'qwertyuiop' }),
    );
    expect(weak.status).toBe(400);
    expect(await weak.text()).toContain('password');
  });

  it('refuses a second process on the same DATA_DIR, and the first keeps serving', async () => {
    const second = await start();
    const exit = await second.waitForExit(90_000);
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    expect(second.stderr).toMatch(/in use/i);

    expect((await running.fetch('/health/ready')).status).toBe(200);
    expect(JSON.parse(readFileSync(lockFile(), 'utf8'))).toMatchObject({ pid: running.pid });
    const me = await running.fetch('/users/me', {
      headers: { authorization: `Bearer ${accessTokenBeforeRestart}` },
    });
    expect(me.status).toBe(200);
  });

  let sigtermExit: Exit;
  it('shuts down on SIGTERM and releases its lock', async () => {
    sigtermExit = await running.stop('SIGTERM', 15_000);
    // The lock is the kernel's (the file stays): free now for this process to take.
    DataDirLock.acquire(dataDir).release();
    expect(running.stderr).toBe('');

    // Its whole life in the log: JSON lines only, one per request, no secrets.
    const lines = running.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    // Two signups: the first user's, and the weak password refused from the bundle.
    expect(lines.filter((line) => line.msg === 'request' && line.route === '/auth/signup')).toHaveLength(2);
    expect(running.stdout).not.toContain(password);
    expect(running.stdout).not.toContain(accessTokenBeforeRestart);
  });

  it('exits with code 0 after SIGTERM (a clean stop, not a death by signal)', () => {
    expect(sigtermExit).toEqual({ code: 0, signal: null });
  });

  it('restarts on the same DATA_DIR: users and signing keys persist', async () => {
    running = await start();
    timings['existing DATA_DIR'] = await running.waitFor('/health/ready');
    reported['existing DATA_DIR'] = running;

    const signin = await running.fetch('/auth/signin', json(firstUser));
    expect(signin.status).toBe(200);

    // Issued by the previous process: still valid, so the key was kept (not regenerated).
    const me = await running.fetch('/users/me', {
      headers: { authorization: `Bearer ${accessTokenBeforeRestart}` },
    });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ email: firstUser.email });
  });

  it('exits non-zero on an invalid variable, naming it', async () => {
    const bad = new ServiceProcess(await freePort(), {
      DATA_DIR: join(scratchDir, 'bad-config'),
      ACCESS_TOKEN_TTL: 'abc',
    });
    const exit = await bad.waitForExit(90_000);
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    expect(bad.stderr).toContain('ACCESS_TOKEN_TTL');
    // The configuration is checked before anything touches the disk.
    expect(existsSync(join(scratchDir, 'bad-config'))).toBe(false);
  });

  it('after SIGKILL starts again at once on the same DATA_DIR, with every committed user', async () => {
    const signup = await running.fetch('/auth/signup', json(lateUser));
    expect(signup.status).toBe(201);

    const killedPid = running.pid;
    const exit = await running.stop('SIGKILL');
    expect(exit.signal).toBe('SIGKILL');
    // The killed process had no chance to clean up: its lock file still names it (the kernel freed the lock).
    expect(JSON.parse(readFileSync(lockFile(), 'utf8'))).toMatchObject({ pid: killedPid });

    running = await start();
    timings['after SIGKILL'] = await running.waitFor('/health/ready');
    reported['after SIGKILL'] = running;
    expect(JSON.parse(readFileSync(lockFile(), 'utf8'))).toMatchObject({ pid: running.pid });

    for (const user of [firstUser, lateUser]) {
      const signin = await running.fetch('/auth/signin', json(user));
      expect(signin.status, user.email).toBe(200);
    }

    await running.stop('SIGTERM');
  });
});
