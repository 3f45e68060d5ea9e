import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildService, freePort, killAll, ServiceProcess } from '../support/process.js';
import { runCli } from '../support/cli.js';

/**
 * The first admin through the real processes: `node dist/bundle/cli.js admin create`
 * (password on standard input, never on the command line) and ADMIN_EMAIL /
 * ADMIN_PASSWORD at the service's start, each checked by signing in to the
 * real service on the same DATA_DIR.
 */

/** Runs the CLI with only the given environment; `stdin` is piped (not a TTY) and closed. */
const cli = (args: string[], env: Record<string, string>, stdin = '') => runCli(args, env, { stdin });

const json = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

async function signin(service: ServiceProcess, email: string, password: string) {
  const response = await service.fetch('/auth/signin', json({ email, password }));
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

async function getUsers(service: ServiceProcess, token: string) {
  const response = await service.fetch('/users?limit=100', { headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, body: (await response.json()) as Record<string, any>[] };
}

// Real service processes, each start a few seconds: bounds sized for a machine busy with other work.
describe('first admin: command line and ADMIN_EMAIL', { timeout: 180_000 }, () => {
  const first = 'first correct horse battery';
  const second = 'second correct horse battery';
  const admin = `cli.admin.${process.pid}@x.io`;
  const refused = `cli.weak.${process.pid}@x.io`;
  const promoted = `cli.promoted.${process.pid}@x.io`;
  const dirs: string[] = [];
  let dataDir: string;

  const start = async (env: Record<string, string>) => {
    const service = new ServiceProcess(await freePort(), env);
    await service.waitFor('/health/live', 90_000);
    return service;
  };
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-cli-'));
    dirs.push(dir);
    return dir;
  };

  beforeAll(async () => {
    buildService();
    dataDir = await tempDir();
  }, 120_000);

  afterAll(async () => {
    await killAll();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('has no way to pass the password on the command line', async () => {
    const help = await cli(['admin', 'create', '--help'], { DATA_DIR: dataDir });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--email');
    expect(help.stdout).toMatch(/standard input/);
    expect(help.stdout).not.toMatch(/--pass|-p[ ,]/);

    const attempt = await cli(['admin', 'create', '--email', admin, '--password', first], {
      DATA_DIR: dataDir,
    });
    expect(attempt.code).not.toBe(0);
    expect(attempt.stderr).toMatch(/unknown option/);
  });

  it('creates an admin with the password read from standard input', async () => {
    const run = await cli(['admin', 'create', '--email', admin], { DATA_DIR: dataDir }, `${first}\n`);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/created/);
    expect(run.stdout + run.stderr).not.toContain(first);
  }, 120_000);

  it('is idempotent: run again with another password, it changes nothing', async () => {
    const run = await cli(
      ['admin', 'create', '--email', admin.toUpperCase()],
      { DATA_DIR: dataDir },
      `${second}\n`,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/nothing changed/);
    expect(run.stdout + run.stderr).not.toContain(second);
  }, 120_000);

  it('refuses a weak or missing password: non-zero exit, no account', async () => {
    for (const input of ['password\n', 'short\n', '']) {
      const run = await cli(['admin', 'create', '--email', refused], { DATA_DIR: dataDir }, input);
      expect(run.code, `${JSON.stringify(input)}: ${run.stdout}`).not.toBe(0);
      expect(run.stderr).toMatch(/password/);
    }
    const invalid = await cli(
      ['admin', 'create', '--email', 'not-an-email'],
      { DATA_DIR: dataDir },
      `${first}\n`,
    );
    expect(invalid.code).not.toBe(0);
  }, 120_000);

  it('the service on that DATA_DIR: the admin signs in with the first password only; nothing else was created', async () => {
    const service = await start({ DATA_DIR: dataDir });
    try {
      const ok = await signin(service, admin, first);
      expect(ok.status).toBe(200);
      expect(ok.body.roles).toEqual(['admin', 'user']);
      expect((await signin(service, admin, second)).status).toBe(401);
      expect((await signin(service, refused, 'password')).status).toBe(401);

      const listed = await getUsers(service, ok.body.accessToken as string);
      expect(listed.status).toBe(200);
      expect(listed.body.map((u) => u.email)).toEqual([admin]);

      // While the service holds the embedded database, the CLI works through the service's own server.
      const beside = `cli.beside.${process.pid}@x.io`;
      const run = await cli(['admin', 'create', '--email', beside], { DATA_DIR: dataDir }, `${first}\n`);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/created/);
      expect((await service.fetch('/health/ready')).status).toBe(200);
      expect((await signin(service, beside, first)).body.roles).toEqual(['admin', 'user']);

      // A plain account, for the next test.
      expect((await service.fetch('/auth/signup', json({ email: promoted, password: first }))).status).toBe(
        201,
      );
    } finally {
      await service.stop();
    }
  }, 120_000);

  it('gives an existing account the admin role without asking for or changing its password', async () => {
    const run = await cli(['admin', 'create', '--email', `  ${promoted.toUpperCase()}  `], {
      DATA_DIR: dataDir,
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/given the admin role/);

    const service = await start({ DATA_DIR: dataDir });
    try {
      const ok = await signin(service, promoted, first);
      expect(ok.status).toBe(200);
      expect(ok.body.roles).toEqual(['admin', 'user']);
      expect((await getUsers(service, ok.body.accessToken as string)).status).toBe(200);
    } finally {
      await service.stop();
    }
  }, 120_000);

  it('ADMIN_EMAIL + ADMIN_PASSWORD create the admin at start, and a restart with another password changes nothing', async () => {
    const fresh = await tempDir();
    const email = `env.admin.${process.pid}@x.io`;
    let service = await start({ DATA_DIR: fresh, ADMIN_EMAIL: email, ADMIN_PASSWORD: first });
    try {
      const ok = await signin(service, email, first);
      expect(ok.status).toBe(200);
      expect(ok.body.roles).toEqual(['admin', 'user']);
      expect((await getUsers(service, ok.body.accessToken as string)).status).toBe(200);
      expect(service.stdout + service.stderr).not.toContain(first);
    } finally {
      await service.stop();
    }

    service = await start({ DATA_DIR: fresh, ADMIN_EMAIL: email, ADMIN_PASSWORD: second });
    try {
      expect((await signin(service, email, second)).status).toBe(401);
      const ok = await signin(service, email, first);
      expect(ok.status).toBe(200);
      const listed = await getUsers(service, ok.body.accessToken as string);
      expect(listed.status).toBe(200);
      expect(listed.body.map((u) => u.email)).toEqual([email]);
      expect(service.stdout + service.stderr).not.toContain(second);
    } finally {
      await service.stop();
    }
  }, 120_000);
});
