import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { buildService, freePort, killAll, ServiceProcess } from '../support/process.js';
import { kidOf } from '../support/tokens.js';

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await check()) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

const json = (body: unknown, token?: string): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
  body: JSON.stringify(body),
});

/**
 * On the embedded database the service holds DATA_DIR; the command line's
 * keys commands work beside it, through the service's own server (no second
 * server on the cluster, no stop and restart), and the service hears of the
 * change at once.
 */
describe('keys commands beside the running service (embedded database)', { timeout: 180_000 }, () => {
  const password = 'correct horse battery staple';
  let dataDir: string;
  let service: ServiceProcess;
  let env: Record<string, string>;
  /** The pid of the embedded server, from its pid file. */
  const serverPid = () => readFileSync(join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0];
  const jwksKids = async () =>
    ((await (await service.fetch('/.well-known/jwks.json')).json()) as { keys: { kid: string }[] }).keys.map(
      (key) => key.kid,
    );

  beforeAll(async () => {
    buildService();
    dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-cli-keys-'));
    env = { DATA_DIR: dataDir };
    service = new ServiceProcess(await freePort(), env);
    await service.waitFor('/health/ready');
  }, 120_000);
  afterAll(async () => {
    await killAll();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keys rotate: the running service publishes the key within 1 s; no second server; the service keeps serving', async () => {
    const server = serverPid();
    const before = await jwksKids();
    const run = await runCli(['keys', 'rotate'], env);
    expect(run.code, run.stderr).toBe(0);
    const kid = /New signing key (\S+):/.exec(run.stdout)?.[1];
    expect(kid, run.stdout).toBeDefined();
    const seen = await until(async () => (await jwksKids()).includes(kid!), 1_000);
    console.log(`rotation by the command line published by the running service after ${Math.round(seen)} ms`);
    expect(await jwksKids()).toEqual(expect.arrayContaining(before));

    const again = await runCli(['keys', 'rotate'], env);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/rotation is under way/);

    const list = await runCli(['keys', 'list'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${kid}\\s+ES256\\s+pending`));
    expect(serverPid()).toBe(server);
    expect((await service.fetch('/health/ready')).status).toBe(200);
  });

  it('keys revoke --end-sessions: the running service refuses the key’s tokens within 1 s; audited without an actor', async () => {
    const created = await runCli(['admin', 'create', '--email', 'keys.admin@example.com'], env, {
      stdin: `${password}\n`,
    });
    expect(created.code, created.stderr).toBe(0);
    const signup = (await (
      await service.fetch('/auth/signup', json({ email: 'keys.user@example.com', password }))
    ).json()) as { accessToken: string; refreshToken: string };
    const kid = kidOf(signup.accessToken)!;
    const me = () =>
      service.fetch('/users/me', { headers: { authorization: `Bearer ${signup.accessToken}` } });
    expect((await me()).status).toBe(200);

    const run = await runCli(['keys', 'revoke', kid, '--end-sessions'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`Signing key ${kid} revoked`);
    await until(async () => (await me()).status === 401, 1_000);
    expect(await jwksKids()).not.toContain(kid);

    const admin = (await (
      await service.fetch('/auth/signin', json({ email: 'keys.admin@example.com', password }))
    ).json()) as { accessToken: string };
    const events = (await (
      await service.fetch('/audit-events?type=signing_key_revoked', {
        headers: { authorization: `Bearer ${admin.accessToken}` },
      })
    ).json()) as { actorId: string | null; detail: { kid: string } }[];
    expect(events).toEqual([
      expect.objectContaining({ actorId: null, detail: expect.objectContaining({ kid }) }),
    ]);
    expect((await service.fetch('/health/ready')).status).toBe(200);
  });
});
