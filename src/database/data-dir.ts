import { lstatSync, mkdirSync } from 'node:fs';
import { OperatorError } from '../common/errors/operator-error.js';

/** What makes DATA_DIR unsafe to use, and what to do about it. */
export class DataDirPermissionError extends OperatorError {
  override name = 'DataDirPermissionError';
}

/**
 * DATA_DIR holds the database's files and, on the embedded default, the
 * secret that decrypts the signing keys: another local user who can read it
 * reads password hashes; one who can write it, or who made it, can plant a
 * secret of their choosing and forge tokens. So a directory (or file) in it is
 * used only when it is this user's (or, for the database's own directory, the
 * server's user's), is no symlink, and grants group and others no read or
 * write (passing through, x, is harmless: root runs the server as `postgres`
 * through a root:postgres 0710 DATA_DIR).
 */
export function assertPrivate(path: string, what: string, owner = process.getuid?.()): void {
  if (owner === undefined) return; // Windows: no POSIX owner or mode to check
  let stat;
  try {
    stat = lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (stat.isSymbolicLink()) {
    throw new DataDirPermissionError(
      `${what} ${path} is a symbolic link (never followed: it could lead anywhere): ` +
        (what === 'DATA_DIR'
          ? 'point DATA_DIR at the real directory'
          : 'put what it points to in its place, or use a new DATA_DIR'),
    );
  }
  if (stat.uid !== owner) {
    throw new DataDirPermissionError(
      `${what} ${path} belongs to uid ${stat.uid}, not to uid ${owner} that uses it: another user could have ` +
        `planted or read what is in it. Use a DATA_DIR of your own (or chown -R ${owner} it if you trust its content)`,
    );
  }
  if (stat.mode & 0o066) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
    throw new DataDirPermissionError(
      `${what} ${path} can be read or written by other users (mode ${mode}): ` +
        `chmod ${stat.isDirectory() ? 'go-rw' : '600'} ${path}, or use a new DATA_DIR`,
    );
  }
}

/** Checks an existing DATA_DIR, or creates it private (0700). */
export function preparePrivateDataDir(dataDir: string): void {
  assertPrivate(dataDir, 'DATA_DIR');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
}
