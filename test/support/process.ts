import getPort from 'get-port';
import { type ChildProcess, execSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root (where package.json and dist/ live). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Compiles src/ into dist/ (what `npm start` runs). The test run's global
 * set-up builds once before any test starts (GATEHOUSE_TEST_BUILT), so that
 * process tests in parallel workers never write dist/ at the same time.
 */
export function buildService(): void {
  if (process.env.GATEHOUSE_TEST_BUILT) return;
  execSync('npm run build --silent', { cwd: ROOT, stdio: 'pipe' });
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export const freePort = (): Promise<number> => getPort({ host: '127.0.0.1' });

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One running `node dist/bundle/main.js` (what `npm start` runs), with its output collected. */
export class ServiceProcess {
  readonly child: ChildProcess;
  readonly baseUrl: string;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<Exit>;
  /** performance.now() when the process was spawned. */
  readonly spawnedAt = performance.now();
  private out = '';
  private err = '';
  private exit: Exit | undefined;

  constructor(
    readonly port: number,
    env: Record<string, string>,
    options: {
      /** Run as this user and group: root's tests of a non-root start. */
      uid?: number;
      gid?: number;
      /** The node binary (another user may not reach the test runner's own, e.g. one under /root). */
      node?: string;
      /** A process group of its own, as a shell gives a command it runs (signalled as a whole by `signalGroup`). */
      group?: boolean;
    } = {},
  ) {
    const { uid, gid, node = process.execPath, group = false } = options;
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.child = spawn(node, ['dist/bundle/main.js'], {
      cwd: ROOT,
      // Only what the test names: no variable of the test runner's environment leaks in.
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOST: '127.0.0.1', PORT: String(port), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: group,
      ...(uid === undefined ? {} : { uid, gid }),
    });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.out += chunk));
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.err += chunk));
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
      // A spawn that fails (EACCES, ENOENT) emits no exit: record it as one, with the reason.
      this.child.on('error', (error) => {
        this.err += `spawn failed: ${error.message}\n`;
        this.exit ??= { code: null, signal: null };
        resolve(this.exit);
      });
    });
    running.add(this);
    void this.exited.then(() => running.delete(this));
  }

  get pid(): number {
    return this.child.pid!;
  }
  get stdout(): string {
    return this.out;
  }
  get stderr(): string {
    return this.err;
  }
  get hasExited(): boolean {
    return this.exit !== undefined;
  }

  /** A request to the service over a real socket. */
  fetch(path: string, init?: RequestInit): Promise<Response> {
    return fetch(this.baseUrl + path, { ...init, signal: AbortSignal.timeout(5_000) });
  }

  /**
   * Polls `path` until it answers 200 (bounded): waits for start-up to finish.
   * Returns the milliseconds from spawn until then. Fails early if the process exits.
   */
  async waitFor(path = '/health/ready', timeoutMs = 90_000): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (this.exit) {
        throw new Error(
          `service exited (${JSON.stringify(this.exit)}) before ${path} answered:\n${this.err}`,
        );
      }
      try {
        const response = await fetch(this.baseUrl + path, { signal: AbortSignal.timeout(1_000) });
        if (response.status === 200) return performance.now() - this.spawnedAt;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(
      `${path} did not answer 200 within ${timeoutMs} ms\nstdout:\n${this.out}\nstderr:\n${this.err}`,
    );
  }

  /** Resolves with the exit, or rejects when the process still runs after `timeoutMs`. */
  async waitForExit(timeoutMs: number): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`process ${this.pid} still running after ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends `signal` to the service's whole process group (a terminal's Ctrl-C); needs `group`. */
  signalGroup(signal: NodeJS.Signals): void {
    process.kill(-this.pid, signal);
  }

  /** Sends `signal` and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<Exit> {
    if (!this.exit) this.child.kill(signal);
    return this.waitForExit(timeoutMs);
  }
}

const running = new Set<ServiceProcess>();

/** SIGKILLs every service process still running (for afterAll). */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...running].map(async (service) => {
      service.child.kill('SIGKILL');
      await service.exited;
    }),
  );
}
