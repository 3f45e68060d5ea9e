import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDirInUseError, DataDirLock } from '../../../src/database/data-dir-lock.js';

describe('DataDirLock', () => {
  let dir: string;
  const lockPath = () => join(dir, 'gatehouse.lock');
  const owner = () => JSON.parse(readFileSync(lockPath(), 'utf8')) as { pid: number; host: string };
  const writeOwner = (content: unknown) =>
    writeFileSync(lockPath(), typeof content === 'string' ? content : JSON.stringify(content));

  /** The pid of a process that has run and exited: certainly not alive now. */
  const deadPid = (): number => {
    const child = spawnSync(process.execPath, ['-e', '0']);
    expect(child.status).toBe(0);
    return child.pid;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-lock-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates the lock file with this process as its holder, readable only by the owner', () => {
    const lock = DataDirLock.acquire(dir);
    expect(owner()).toEqual({ pid: process.pid, host: hostname() });
    if (process.platform !== 'win32') expect(statSync(lockPath()).mode & 0o777).toBe(0o600);
    lock.release();
  });

  it('creates a missing DATA_DIR', () => {
    const nested = join(dir, 'a', 'b');
    const lock = DataDirLock.acquire(nested);
    expect(existsSync(join(nested, 'gatehouse.lock'))).toBe(true);
    lock.release();
  });

  it('release removes the lock file, and may be called twice', () => {
    const lock = DataDirLock.acquire(dir);
    lock.release();
    expect(existsSync(lockPath())).toBe(false);
    expect(() => lock.release()).not.toThrow();
  });

  it('can be acquired again after release', () => {
    DataDirLock.acquire(dir).release();
    const again = DataDirLock.acquire(dir);
    expect(owner().pid).toBe(process.pid);
    again.release();
  });

  // What the lock guarantees is exclusion between processes (see
  // test/process/startup.test.ts). A lock file naming this very pid is read as
  // left over from an earlier life of the pid (a container's pid 1 restarted),
  // so a second acquire inside one process takes it over rather than failing.
  it('does not exclude a second acquire inside the same process (its own pid counts as stale)', () => {
    const first = DataDirLock.acquire(dir);
    const second = DataDirLock.acquire(dir);
    expect(owner()).toEqual({ pid: process.pid, host: hostname() });
    second.release();
    first.release();
    expect(existsSync(lockPath())).toBe(false);
  });

  it('refuses while another live process on this host holds it', () => {
    // The parent of this test process (the test runner) is alive for sure.
    writeOwner({ pid: process.ppid, host: hostname() });
    expect(() => DataDirLock.acquire(dir)).toThrow(DataDirInUseError);
    // The holder's file is left alone.
    expect(owner()).toEqual({ pid: process.ppid, host: hostname() });
  });

  it('explains the refusal: the directory, the holder and what to do', () => {
    writeOwner({ pid: process.ppid, host: hostname() });
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
    expect(message).toContain(`pid ${process.ppid}`);
    expect(message).toContain('DATA_DIR');
  });

  it('takes over a stale lock whose holder has exited', () => {
    const pid = deadPid();
    writeOwner({ pid, host: hostname() });
    const lock = DataDirLock.acquire(dir);
    expect(owner()).toEqual({ pid: process.pid, host: hostname() });
    lock.release();
  });

  it('refuses a lock held from another host, whose process cannot be checked from here', () => {
    writeOwner({ pid: deadPid(), host: `not-${hostname()}` });
    expect(() => DataDirLock.acquire(dir)).toThrow(DataDirInUseError);
    expect(owner().host).toBe(`not-${hostname()}`);
  });

  it.each([
    ['empty', ''],
    ['half-written', '{"pid": 12'],
    ['not an owner', '{"hello":"world"}'],
  ])('takes over an unreadable (%s) lock file', (_, content) => {
    writeOwner(content);
    const lock = DataDirLock.acquire(dir);
    expect(owner().pid).toBe(process.pid);
    lock.release();
  });
});
