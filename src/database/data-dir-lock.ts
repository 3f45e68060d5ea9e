import { closeSync, constants, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { tryLock } from 'fs-native-extensions';
import { OperatorError } from '../common/errors/operator-error.js';

export class DataDirInUseError extends OperatorError {
  constructor(
    dataDir: string,
    /** Who holds it (and the lock file), as the message says. */
    readonly holder: string,
  ) {
    super(
      `DATA_DIR ${dataDir} is in use by another Gatehouse process (${holder}). ` +
        'Two processes on one embedded database would corrupt it: stop the other process, ' +
        'or give this one its own DATA_DIR (or use DATABASE_URL to share a PostgreSQL server).',
    );
    this.name = 'DataDirInUseError';
  }
}

/**
 * An exclusive OS lock on DATA_DIR/gatehouse.lock (an fcntl open-file-description
 * lock on Linux, flock on macOS: both belong to the open file, not to a pid), held for the
 * process's lifetime: the kernel releases it when the process dies, however
 * it dies, so a crash never needs a hand to clean up, and no guess about
 * staleness is ever made (a pid or host name in a file says nothing across
 * PID namespaces or hosts). The file itself stays; the pid and host written
 * into it only name the holder in the refusal message.
 */
export class DataDirLock {
  private constructor(private fd: number | undefined) {}

  static acquire(dataDir: string): DataDirLock {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const path = join(dataDir, 'gatehouse.lock');
    // O_NOFOLLOW: a symlink planted in DATA_DIR cannot redirect the write below.
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    if (!tryLock(fd)) {
      closeSync(fd);
      throw new DataDirInUseError(dataDir, `${holderOf(path)}; lock file ${path}`);
    }
    ftruncateSync(fd);
    writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname() }), 0);
    return new DataDirLock(fd);
  }

  /** Releases the lock (closing the file releases the flock); safe to call twice. */
  release(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

function holderOf(path: string): string {
  try {
    const { pid, host } = JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown; host?: unknown };
    return `pid ${String(pid)} on ${String(host)}`;
  } catch {
    return 'a process that has not written its name yet';
  }
}
