import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './process.js';

const run = promisify(execFile);

/**
 * Servers a fault test owns: a PostgreSQL cluster and a Redis server of its
 * own, on free ports under a temporary directory, which the test really
 * stops (or kills) and starts again. The machine's shared servers, which
 * other tests and engineers use, are never touched.
 *
 * `create()` returns either the server or the reason it cannot run here
 * (missing binaries, no `postgres` user to run them as root, …), so that the
 * test can say why it is skipped.
 */
export type Started<T> = { server: T } | { unavailable: string };

/**
 * For a fault suite's `beforeAll`: the server, or — having said that the fault is skipped, and
 * failing instead where GATEHOUSE_REQUIRE_SERVICES is set (CI) — the reason for its tests' skip.
 */
export function serverOrSkip<T>(started: Started<T>, fault: string): { server: T } | { skipped: string } {
  if ('server' in started) return started;
  if (process.env.GATEHOUSE_REQUIRE_SERVICES) {
    throw new Error(`GATEHOUSE_REQUIRE_SERVICES is set, but ${started.unavailable}`);
  }
  const skipped = `private server unavailable: ${started.unavailable}`;
  console.warn(`\n⚠ fault "${fault}" SKIPPED — ${skipped}\n`);
  return { skipped };
}

/** The newest PostgreSQL server binaries installed the Debian way (/usr/lib/postgresql/<major>/bin). */
function postgresBinDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const majors = readdirSync(base)
    .filter((entry) => /^\d+$/.test(entry) && existsSync(join(base, entry, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return majors[0] === undefined ? undefined : join(base, majors[0], 'bin');
}

function message(error: unknown): string {
  const { stderr, message } = error as { stderr?: string; message?: string };
  return (stderr?.trim() || message || String(error)).split('\n').slice(-3).join(' | ');
}

export class PrivatePostgres {
  private running = false;

  private constructor(
    /** Temporary directory: data/, the server log and the unix socket. */
    readonly dir: string,
    readonly port: number,
    private readonly binDir: string,
    /** As root, the binaries run as this OS user (initdb refuses root). */
    private readonly runAs: string | undefined,
  ) {}

  /** postgres://postgres@127.0.0.1:<port>/postgres (trust authentication, on 127.0.0.1 only). */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  get logFile(): string {
    return join(this.dir, 'server.log');
  }

  /** initdb into a new temporary directory and start the server. */
  static async create(): Promise<Started<PrivatePostgres>> {
    const binDir = postgresBinDir();
    if (!binDir) {
      return {
        unavailable: 'no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (initdb, pg_ctl)',
      };
    }
    let runAs: string | undefined;
    let owner: { uid: number; gid: number } | undefined;
    if (process.getuid?.() === 0) {
      // initdb and postgres refuse to run as root: run them as the `postgres` OS user.
      try {
        const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
        const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
        await run('runuser', ['--help']);
        runAs = 'postgres';
        owner = { uid, gid };
      } catch (error) {
        return {
          unavailable: `running as root, and cannot run initdb as the postgres OS user (runuser -u postgres): ${message(error)}`,
        };
      }
    }
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-fault-pg-'));
    if (owner) await chown(dir, owner.uid, owner.gid);
    const server = new PrivatePostgres(dir, await freePort(), binDir, runAs);
    try {
      await server.exec('initdb', [
        '-D',
        join(dir, 'data'),
        '--auth=trust',
        '--username=postgres',
        '--encoding=UTF8',
        '--no-instructions',
      ]);
      await server.start();
    } catch (error) {
      await server.destroy();
      return { unavailable: `could not initdb/start a private PostgreSQL: ${message(error)}` };
    }
    return { server };
  }

  private exec(binary: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
    const path = join(this.binDir, binary);
    return this.runAs
      ? run('runuser', ['-u', this.runAs, '--', path, ...args], { cwd: this.dir, timeout: 60_000 })
      : run(path, args, { cwd: this.dir, timeout: 60_000 });
  }

  /** Starts the server and waits until it accepts connections (pg_ctl -w). */
  async start(): Promise<void> {
    await this.exec('pg_ctl', [
      '-D',
      join(this.dir, 'data'),
      '-l',
      this.logFile,
      '-w',
      '-t',
      '60',
      '-o',
      `-p ${this.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${this.dir} -c max_connections=50`,
      'start',
    ]);
    this.running = true;
  }

  /**
   * Stops the server and waits until it is gone. `fast`: sessions are
   * terminated (FATAL 57P01) and a checkpoint written; `immediate`: every
   * process is killed at once, as in a crash (recovery from the WAL at the
   * next start).
   */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.exec('pg_ctl', ['-D', join(this.dir, 'data'), '-m', mode, '-w', '-t', '60', 'stop']);
    this.running = false;
  }

  /** The last lines of the server's log (for failure messages). */
  async logTail(lines = 20): Promise<string> {
    const text = await readFile(this.logFile, 'utf8').catch(() => '');
    return text.split('\n').slice(-lines).join('\n');
  }

  /** Stops the server if it runs and removes its directory. */
  async destroy(): Promise<void> {
    if (this.running) await this.stop('immediate').catch(() => {});
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A redis-server child process of the test's own, without persistence. */
export class PrivateRedis {
  private child?: ChildProcess;
  private exited?: Promise<void>;

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  static async create(): Promise<Started<PrivateRedis>> {
    try {
      await run('redis-server', ['--version']);
    } catch (error) {
      return { unavailable: `redis-server is not installed or not on PATH: ${message(error)}` };
    }
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-fault-redis-'));
    const server = new PrivateRedis(dir, await freePort());
    try {
      await server.start();
    } catch (error) {
      await server.destroy();
      return { unavailable: `could not start a private redis-server: ${message(error)}` };
    }
    return { server };
  }

  /** Starts redis-server on the same port and waits for "Ready to accept connections". */
  async start(): Promise<void> {
    if (this.child) return;
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server not ready in 10 s:\n${output}`)), 10_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited at start:\n${output}`));
      });
    });
    child.stdout.resume();
    child.stderr.resume();
    this.child = child;
    this.exited = exited;
  }

  /** Kills the server (SIGKILL by default: no goodbye to its clients) and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    child.kill(signal);
    await this.exited;
  }

  async destroy(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}
