import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDirInUseError, DataDirLock } from '../../src/database/data-dir-lock.js';
import { ROOT } from '../support/process.js';

describe('DataDirLock', () => {
  let dir: string;
  const lockPath = () => join(dir, 'gatehouse.lock');
  const owner = () => JSON.parse(readFileSync(lockPath(), 'utf8')) as { pid: number; host: string };
  const holders: ChildProcess[] = [];

  /** The pid of a process that has run and exited: certainly not alive now. */
  const deadPid = (): number => spawnSync(process.execPath, ['-e', '0']).pid;

  /** Another process that takes the lock with the built service's code and holds it until killed. */
  const holder = async (): Promise<ChildProcess> => {
    const module = pathToFileURL(join(ROOT, 'dist/database/data-dir-lock.js')).href;
    const child = spawn(
      process.execPath,
      [
        '-e',
        `import(${JSON.stringify(module)}).then((m) => { m.DataDirLock.acquire(${JSON.stringify(dir)}); console.log('held'); setInterval(() => {}, 1000); })`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    holders.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('held') && resolve());
      child.on('exit', (code) => reject(new Error(`holder exited with ${code}`)));
    });
    return child;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-lock-'));
  });
  afterEach(async () => {
    for (const child of holders.splice(0)) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      await new Promise((resolve) => child.once('exit', resolve).kill('SIGKILL'));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the lock file naming this process, readable only by the owner', () => {
    const lock = DataDirLock.acquire(dir);
    expect(owner()).toEqual({ pid: process.pid, host: hostname() });
    if (process.platform !== 'win32') expect(statSync(lockPath()).mode & 0o777).toBe(0o600);
    lock.release();
  });

  it('creates a missing DATA_DIR, private to its user', () => {
    const nested = join(dir, 'a', 'b');
    const lock = DataDirLock.acquire(nested);
    expect(existsSync(join(nested, 'gatehouse.lock'))).toBe(true);
    if (process.platform !== 'win32') expect(statSync(nested).mode & 0o777).toBe(0o700);
    lock.release();
  });

  it('excludes a second holder even inside the same process; release frees it, and may be called twice', () => {
    const first = DataDirLock.acquire(dir);
    expect(() => DataDirLock.acquire(dir)).toThrow(DataDirInUseError);
    first.release();
    expect(() => first.release()).not.toThrow();
    DataDirLock.acquire(dir).release();
  });

  it('refuses while another live process holds it, whatever its lock file claims (another PID namespace, another host)', async () => {
    await holder();
    // What a holder in another PID namespace looks like from here: a pid that is not alive.
    writeFileSync(lockPath(), JSON.stringify({ pid: deadPid(), host: hostname() }));
    expect(() => DataDirLock.acquire(dir)).toThrow(DataDirInUseError);
    writeFileSync(lockPath(), JSON.stringify({ pid: deadPid(), host: `not-${hostname()}` }));
    expect(() => DataDirLock.acquire(dir)).toThrow(DataDirInUseError);
  });

  it('explains the refusal: the directory, the holder and what to do', async () => {
    const child = await holder();
    let error: unknown;
    try {
      DataDirLock.acquire(dir);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(DataDirInUseError);
    const message = (error as Error).message;
    expect(message).toContain(dir);
    expect(message).toContain('in use');
    expect(message).toContain(`pid ${child.pid}`);
    expect(message).toContain('DATA_DIR');
  });

  it('is free the moment its holder is killed, even when the file names another host', async () => {
    const child = await holder();
    writeFileSync(lockPath(), JSON.stringify({ pid: child.pid, host: `not-${hostname()}` }));
    await new Promise((resolve) => child.once('exit', resolve).kill('SIGKILL'));
    const lock = DataDirLock.acquire(dir);
    expect(owner()).toEqual({ pid: process.pid, host: hostname() });
    lock.release();
  });

  it.each([
    ['empty', ''],
    ['half-written', '{"pid": 12'],
    ['a longer old content', JSON.stringify({ pid: 1, host: 'x'.repeat(200) })],
  ])('takes a lock file left %s, and rewrites it whole', (_, content) => {
    writeFileSync(lockPath(), content);
    const lock = DataDirLock.acquire(dir);
    expect(owner()).toEqual({ pid: process.pid, host: hostname() });
    lock.release();
  });

  it.skipIf(process.platform === 'win32')('does not follow a symlink planted as the lock file', () => {
    const target = join(dir, 'victim');
    writeFileSync(target, 'precious');
    symlinkSync(target, lockPath());
    expect(() => DataDirLock.acquire(dir)).toThrow();
    expect(readFileSync(target, 'utf8')).toBe('precious');
  });
});
