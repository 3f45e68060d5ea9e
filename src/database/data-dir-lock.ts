import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
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
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname() } satisfies LockOwner));
        closeSync(fd);
        return new DataDirLock(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const owner = readOwner(path);
      if (owner && isAlive(owner)) {
        throw new DataDirInUseError(dataDir, `pid ${owner.pid} on ${owner.host}; lock file ${path}`);
      }
      unlinkSync(path); // stale: its holder is gone
    }
    throw new DataDirInUseError(dataDir, `lock file ${path} was taken during start`);
  }

  release(): void {
    try {
      unlinkSync(this.path);
    } catch {
      // already gone: nothing to release
    }
  }
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
