import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runningServerUrl } from '../../src/database/embedded-postgres.js';
import { buildService, freePort, killAll, ServiceProcess } from '../support/process.js';

/**
 * The embedded PostgreSQL server's life beside the service's: it stops with
 * the service however the service ends, a service killed with -9 leaves
 * nothing that blocks the next start (and loses no acknowledged write), and
 * it runs for root (as the `postgres` user) as for a normal user.
 */
// Real service processes, each start a few seconds: bounds sized for a machine busy with other work.
describe('embedded database lifecycle', { timeout: 180_000 }, () => {
  let scratch: string;
  const password = 'correct horse battery staple';
  const signup = (service: ServiceProcess, email: string) =>
    service.fetch('/auth/signup', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
  const signin = (service: ServiceProcess, email: string) =>
    service.fetch('/auth/signin', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
  /** The running postmaster's pid, from the pid file PostgreSQL keeps in its directory. */
  const postmasterPid = (dataDir: string): number =>
    Number.parseInt(readFileSync(join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]!, 10);
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  };
  /** A process may take a moment to be reaped after it exits: poll (bounded) instead of sleeping. */
  const gone = async (pid: number, timeoutMs = 10_000): Promise<boolean> => {
    const deadline = performance.now() + timeoutMs;
    while (alive(pid) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return !alive(pid);
  };
  /** Every process working in the cluster's directory (PostgreSQL's processes all change into it); Linux. */
  const clusterProcesses = (directory: string): number[] => {
    const cluster = realpathSync(directory);
    return readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .filter((pid) => {
        try {
          return realpathSync(`/proc/${pid}/cwd`) === cluster;
        } catch {
          return false; // gone meanwhile, or not ours to look at
        }
      })
      .map(Number);
  };
  const start = async (
    dataDir: string,
    env: Record<string, string> = {},
    uid?: number,
    gid?: number,
    node?: string,
  ) =>
    new ServiceProcess(
      await freePort(),
      { DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...env },
      { uid, gid, node },
    );

  beforeAll(async () => {
    buildService();
    scratch = await mkdtemp(join(tmpdir(), 'gatehouse-embedded-'));
    chmodSync(scratch, 0o711); // passable by the postgres user (root runs the server as it)
  }, 60_000);

  afterAll(async () => {
    await killAll();
    await rm(scratch, { recursive: true, force: true });
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`stops its database when the service stops on ${signal}`, async () => {
      const dataDir = join(scratch, signal);
      const service = await start(dataDir);
      await service.waitFor();
      const pid = postmasterPid(dataDir);
      expect(alive(pid)).toBe(true);
      expect(await service.stop(signal)).toEqual({ code: 0, signal: null });
      expect(await gone(pid)).toBe(true);
      expect(existsSync(join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
    });
  }

  it('a Ctrl-C in a terminal (SIGINT to the whole process group) lets a request in flight finish on the database', async () => {
    const dataDir = join(scratch, 'ctrl-c');
    // Long bounds: the signup below waits on a lock for as long as this test holds it.
    const service = new ServiceProcess(
      await freePort(),
      {
        DATA_DIR: dataDir,
        LOG_LEVEL: 'warn',
        DATABASE_LOCK_TIMEOUT: '60s',
        DATABASE_STATEMENT_TIMEOUT: '60s',
      },
      { group: true },
    );
    await service.waitFor();
    const pid = postmasterPid(dataDir);
    const url = runningServerUrl(join(dataDir, 'pg'))!;
    const session = async () => {
      const client = new pg.Client({ connectionString: url });
      client.on('error', () => {}); // a failed query says it
      await client.connect();
      return client;
    };
    const holder = await session();
    const observer = await session();
    try {
      await holder.query('begin; lock table users in access exclusive mode');
      const email = 'ctrl-c@example.com';
      const signup = fetch(`${service.baseUrl}/auth/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password }),
        signal: AbortSignal.timeout(60_000),
      });
      // The signup is on the database, waiting for the lock.
      const waiting = async () =>
        (await observer.query<{ n: number }>('select count(*)::int as n from pg_locks where not granted'))
          .rows[0]!.n > 0;
      while (!(await waiting())) await new Promise((r) => setTimeout(r, 20));

      service.signalGroup('SIGINT');
      // The service has taken the signal once it stops accepting connections.
      const refused = () =>
        new Promise<boolean>((resolve) => {
          const socket = connect(service.port, '127.0.0.1');
          socket.once('connect', () => {
            socket.destroy();
            resolve(false);
          });
          socket.once('error', () => resolve(true));
        });
      while (!(await refused())) await new Promise((r) => setTimeout(r, 20));
      // The database was not signalled with it: it still serves, and the signup goes through.
      await observer.query('select 1');
      await holder.query('rollback');
      expect((await signup).status).toBe(201);
      expect(await service.waitForExit(30_000)).toEqual({ code: 0, signal: null });
      expect(await gone(pid)).toBe(true);

      const next = await start(dataDir);
      await next.waitFor();
      expect((await signin(next, email)).status).toBe(200);
      await next.stop();
    } finally {
      await holder.end().catch(() => {});
      await observer.end().catch(() => {});
    }
  });

  it('stops its database when the service exits on an error after the database started', async () => {
    const dataDir = join(scratch, 'port-taken');
    // The port is taken: the service starts its database, then fails to listen and exits 1.
    const blocker = createServer();
    const port = await new Promise<number>((resolve) =>
      blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as { port: number }).port)),
    );
    try {
      const service = new ServiceProcess(port, { DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
      const exit = await service.waitForExit(90_000);
      expect(exit.code).toBe(1);
      const pidFile = join(dataDir, 'pg', 'postmaster.pid');
      if (existsSync(pidFile)) expect(await gone(postmasterPid(dataDir))).toBe(true);
      // Nothing left behind: the next start on the directory succeeds.
      const next = await start(dataDir);
      await next.waitFor();
      await next.stop();
    } finally {
      blocker.close();
    }
  });

  it('after kill -9 under signup load, the next start stops the orphaned server and has every acknowledged signup', async () => {
    const dataDir = join(scratch, 'kill-9');
    let service = await start(dataDir);
    await service.waitFor();
    const orphan = postmasterPid(dataDir);

    // Signups in flight when the service dies: every one answered 201 must be there afterwards.
    const acknowledged: string[] = [];
    let stop = false;
    const writers = Array.from({ length: 4 }, async (_, writer) => {
      for (let n = 0; !stop; n++) {
        const email = `w${writer}.${n}@example.com`;
        try {
          if ((await signup(service, email)).status === 201) acknowledged.push(email);
        } catch {
          return; // the service is gone
        }
      }
    });
    while (acknowledged.length < 12) await new Promise((r) => setTimeout(r, 20));
    service.child.kill('SIGKILL');
    await service.exited;
    stop = true;
    await Promise.all(writers);

    // The service could not stop its server: it still runs, holding the directory.
    expect(alive(orphan)).toBe(true);

    service = await start(dataDir);
    await service.waitFor();
    expect(alive(orphan)).toBe(false);
    expect(postmasterPid(dataDir)).not.toBe(orphan);
    for (const email of acknowledged) expect((await signin(service, email)).status, email).toBe(200);
    await service.stop();
  });

  it('a postmaster killed with -9 is started again: 503 meanwhile (never 500), ready by itself, nothing acknowledged lost', async () => {
    const dataDir = join(scratch, 'postmaster-killed');
    // Sign-ins every 100 ms until recovery: past the default rate limit on a slow machine.
    const service = await start(dataDir, { RATE_LIMIT_PER_MINUTE: '1000000' });
    await service.waitFor();
    const acknowledged = Array.from({ length: 5 }, (_, n) => `before.${n}@example.com`);
    for (const email of acknowledged) expect((await signup(service, email)).status, email).toBe(201);

    // What the out-of-memory killer does: the postmaster itself dies, not one of its backends.
    const first = postmasterPid(dataDir);
    process.kill(first, 'SIGKILL');

    // Meanwhile every request answers 503 `unavailable` or succeeds (once the server is back), never
    // a 500; readiness comes back by itself, without a restart of the service.
    const seen = new Set<number>();
    const deadline = performance.now() + 60_000;
    for (;;) {
      const reply = await signin(service, acknowledged[0]!);
      seen.add(reply.status);
      if (reply.status !== 200) {
        expect(reply.status).toBe(503);
        expect(((await reply.json()) as { code: string }).code).toBe('unavailable');
      }
      if ((await service.fetch('/health/ready')).status === 200) break;
      expect(
        performance.now(),
        `not ready again:\n${(service.stdout + service.stderr).slice(-3000)}`,
      ).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(seen.has(503)).toBe(true); // the outage was seen: the first request went out just after the kill
    expect(service.hasExited).toBe(false);
    const second = postmasterPid(dataDir);
    expect(second).not.toBe(first);
    expect(alive(first)).toBe(false);
    expect(service.stdout + service.stderr).toContain(`(pid ${first}) exited unexpectedly (signal SIGKILL)`);

    for (const email of acknowledged) expect((await signin(service, email)).status, email).toBe(200);
    expect((await signup(service, 'after@example.com')).status).toBe(201);
    expect((await signin(service, 'after@example.com')).status).toBe(200);

    // SIGTERM still stops the service and its (new) server, leaving no process of the cluster behind.
    expect(await service.stop('SIGTERM', 30_000)).toEqual({ code: 0, signal: null });
    expect(await gone(second)).toBe(true);
    expect(existsSync(join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
    expect(clusterProcesses(join(dataDir, 'pg'))).toEqual([]);
  });

  const root = process.getuid?.() === 0;
  const idOf = (flag: string) => {
    try {
      return Number.parseInt(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }), 10);
    } catch {
      return undefined;
    }
  };
  const postgresUser = idOf('-u');
  const postgresGroup = idOf('-g');

  it.runIf(root && postgresUser !== undefined)(
    'runs as root (the server as the postgres user) and as a normal user',
    async () => {
      // Root: the server runs as `postgres`, its directory root:postgres 0710.
      const asRoot = join(scratch, 'root');
      const service = await start(asRoot);
      await service.waitFor();
      const owner = execFileSync('ps', ['-o', 'user=', '-p', String(postmasterPid(asRoot))], {
        encoding: 'utf8',
      });
      expect(owner.trim()).toBe('postgres');
      await service.stop();

      // A normal user (here the `postgres` account, the one non-root user this machine is sure to have).
      const asUser = join(scratch, 'user');
      mkdirSync(asUser, { mode: 0o700 });
      chownSync(asUser, postgresUser!, postgresGroup!);
      // The runner's node may sit where that user cannot go (npm exec puts it under /root/.npm).
      let node = process.execPath;
      try {
        execFileSync(node, ['--version'], { uid: postgresUser, gid: postgresGroup, stdio: 'ignore' });
      } catch {
        node = join(scratch, 'node');
        copyFileSync(process.execPath, node);
        chmodSync(node, 0o755);
      }
      const user = await start(asUser, {}, postgresUser, postgresGroup, node);
      await user.waitFor();
      expect((await signup(user, 'normal.user@example.com')).status).toBe(201);
      await user.stop();
    },
  );

  it.runIf(root)('as root on a machine without a postgres user, stops and says what to do', async () => {
    // `id postgres` as on such a machine (the service asks `id` which user to run the server as).
    const bin = join(scratch, 'no-postgres-user-bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'id'), '#!/bin/sh\necho "id: $2: no such user" >&2\nexit 1\n', {
      mode: 0o755,
    });
    const service = await start(join(scratch, 'no-postgres-user'), {
      PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    });
    const exit = await service.waitForExit(90_000);
    expect(exit.code).toBe(1);
    expect(service.stderr).toContain('cannot run as root');
    expect(service.stderr).toContain('run Gatehouse as a normal user');
    expect(service.stderr).toContain('useradd --system --user-group postgres');
    expect(service.stderr).toContain('DATABASE_URL');
  });

  it.runIf(root)('as root, says which directory the postgres user cannot enter', async () => {
    const closed = join(scratch, 'closed');
    mkdirSync(closed, { mode: 0o700 });
    const service = await start(join(closed, 'data'));
    const exit = await service.waitForExit(90_000);
    expect(exit.code).toBe(1);
    expect(service.stderr).toContain(`cannot enter ${closed}`);
  });
});
