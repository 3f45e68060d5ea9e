import { closeSync, mkdirSync, openSync, readFileSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export class DataDirInUseError extends Error {
  constructor(dataDir: string, holder: string) {
    super(
      `DATA_DIR ${dataDir} is in use by another Gatehouse process (${holder}). ` +
        'Two processes on one embedded database would corrupt it: stop the other process, ' +
        'or give this one its own DATA_DIR (or use DATABASE_URL to share a PostgreSQL server).',
    );
    this.name = 'DataDirInUseError';
  }
}

interface LockOwner {
  pid: number;
  host: string;
}

/**
 * An exclusive lock on the embedded database's directory. PGlite has none of
 * its own, and two processes writing one directory lose data silently.
 *
 * The lock file records the holder's pid and host. A holder that no longer
 * runs (killed with SIGKILL, say) leaves a stale file, which the next start
 * takes over, so a crash never needs a hand to clean up. Lock-file libraries
 * that judge staleness by age would make a restart right after a crash wait.
 */
export class DataDirLock {
  private constructor(private readonly path: string) {}

  static acquire(dataDir: string): DataDirLock {
    mkdirSync(dataDir, { recursive: true });
    const path = join(dataDir, 'gatehouse.lock');
    if (tryCreate(path)) return new DataDirLock(path);
    const owner = readOwner(path);
    if (owner && isAlive(owner)) {
      throw new DataDirInUseError(dataDir, `pid ${owner.pid} on ${owner.host}; lock file ${path}`);
    }
    // Stale: its holder is gone. Two processes starting together could both
    // see it stale, and one would delete the other's fresh lock; so taking
    // over is itself exclusive, and the owner is read again inside.
    const takeover = `${path}.takeover`;
    if (!tryCreate(takeover)) {
      throw new DataDirInUseError(dataDir, `another process is taking over the stale lock file ${path}`);
    }
    try {
      const again = readOwner(path);
      if (again && isAlive(again)) {
        throw new DataDirInUseError(dataDir, `pid ${again.pid} on ${again.host}; lock file ${path}`);
      }
      rmSync(path, { force: true });
      if (!tryCreate(path)) throw new DataDirInUseError(dataDir, `lock file ${path} was taken during start`);
      return new DataDirLock(path);
    } finally {
      rmSync(takeover, { force: true });
    }
  }

  release(): void {
    try {
      unlinkSync(this.path);
    } catch {
      // already gone: nothing to release
    }
  }
}

/** Creates the lock file with our pid and host, atomically; false if it exists. */
function tryCreate(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname() } satisfies LockOwner));
  } finally {
    closeSync(fd);
  }
  return true;
}

function readOwner(path: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    return typeof owner.pid === 'number' && typeof owner.host === 'string'
      ? { pid: owner.pid, host: owner.host }
      : undefined;
  } catch {
    return undefined; // unreadable or half-written: treat as stale
  }
}

function isAlive(owner: LockOwner): boolean {
  // Another host's process cannot be checked from here: assume it runs.
  if (owner.host !== hostname()) return true;
  // Our own pid in the file means a previous life of this process id (a
  // container restarted as pid 1): stale.
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
