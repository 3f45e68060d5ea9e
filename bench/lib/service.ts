import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Managed, type ProcessMemory, freePort, processTree } from './processes.js';
import { BENCH_DIST, ROOT } from './settings.js';

/** Memory of the service and of its descendants (the embedded database's processes) at one moment. */
export interface TreeMemory {
  /** Sum of PSS over the service's process and every descendant, bytes. */
  pss: number;
  /** PSS of the node process alone, and its RSS (VmRSS, what `ps` shows), bytes. */
  nodePss: number;
  nodeRss: number;
  processes: ProcessMemory[];
}

/** The service under test: `node dist/bundle/main.js` as its own process, on 127.0.0.1. */
export class Service {
  private process: Managed | undefined;
  private port = 0;
  /** Where its request log goes (removed at the end of a run that went well). */
  private readonly logDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-log-'));
  readonly logFile = join(this.logDir, 'service.log');

  constructor(
    readonly kind: 'embedded' | 'postgres',
    private readonly env: Record<string, string>,
  ) {}

  /**
   * `startupMs` of the last start's "listening" log line: the service's own
   * clock, which starts after its modules have loaded (undefined if not found).
   */
  lastStartupMs: number | undefined;

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    if (!this.process) throw new Error('the service is not running');
    return this.process.pid;
  }

  /**
   * Starts the service; resolves with the seconds from the spawn of its
   * process until `/health/ready` answered 200 (its database reachable).
   */
  async start(): Promise<number> {
    // The same port on every restart: the default issuer is the service's URL
    // (PUBLIC_URL, from the port), so tokens issued before a restart stay valid.
    this.port ||= await freePort();
    const logFrom = size(this.logFile);
    const started = performance.now();
    this.process = new Managed(
      `gatehouse (${this.kind})`,
      // For profiling: BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench
      [...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), 'dist/bundle/main.js'],
      {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        ...this.env,
        HOST: '127.0.0.1',
        PORT: String(this.port),
      },
      ROOT,
      this.logFile,
    );
    await this.process.waitForHttp(`${this.base}/health/ready`, 120_000, 10);
    const seconds = (performance.now() - started) / 1000;
    this.lastStartupMs = await startupMs(this.logFile, logFrom);
    return seconds;
  }

  async stop(): Promise<void> {
    await this.process?.stop();
    this.process = undefined;
  }

  /** Throws, with the service's last output, if it has died by itself. */
  check(): void {
    const problem = this.process?.unexpectedExit;
    if (problem) throw new Error(problem);
  }

  /** Removes the log file (keep it when a run failed: it says why). */
  removeLog(): void {
    rmSync(this.logDir, { recursive: true, force: true });
  }

  async restart(): Promise<number> {
    await this.stop();
    return this.start();
  }

  rss(): number {
    if (!this.process) throw new Error('the service is not running');
    this.check();
    return this.process.rss();
  }

  /** PSS of the service plus its database processes (with DATABASE_URL: the service alone). */
  memory(): TreeMemory {
    if (!this.process) throw new Error('the service is not running');
    this.check();
    const processes = processTree(this.process.pid);
    const node = processes.find((p) => p.pid === this.process!.pid)!;
    return {
      pss: processes.reduce((sum, p) => sum + p.pssKB, 0) * 1024,
      nodePss: node.pssKB * 1024,
      nodeRss: this.process.rss(),
      processes,
    };
  }
}

function size(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/**
 * `"startupMs":N` of the "listening" line this start wrote to the log (which
 * accumulates over restarts: read from `offset`). The line may reach the file
 * a moment after /health/ready answers; undefined if it has not within 2 s.
 */
async function startupMs(logFile: string, offset: number): Promise<number | undefined> {
  const deadline = performance.now() + 2_000;
  for (;;) {
    const length = size(logFile) - offset;
    if (length > 0) {
      const buffer = Buffer.alloc(length);
      const fd = openSync(logFile, 'r');
      try {
        readSync(fd, buffer, 0, length, offset);
      } finally {
        closeSync(fd);
      }
      const match = /"startupMs":(\d+)/.exec(buffer.toString('utf8'));
      if (match) return Number(match[1]);
    }
    if (performance.now() > deadline) return undefined;
    await sleep(20);
  }
}

/** A baseline server (bench/baselines/<name>.ts, compiled) as its own process. */
export class Baseline {
  private constructor(
    readonly name: string,
    readonly base: string,
    private readonly process: Managed,
  ) {}

  static async start(name: string, env: Record<string, string>): Promise<Baseline> {
    const port = await freePort();
    const process_ = new Managed(
      name,
      [join(BENCH_DIST, 'baselines', `${name}.js`)],
      { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env, BENCH_PORT: String(port) },
      ROOT,
    );
    await process_.waitForLine(/listening/, 30_000);
    return new Baseline(name, `http://127.0.0.1:${port}`, process_);
  }

  stop(): Promise<void> {
    return this.process.stop();
  }
}

/** Runs bench/baselines/argon2-rate.ts once and returns hashes per second. */
export async function argon2Rate(seconds: number, concurrency: number): Promise<number> {
  const child = new Managed(
    'argon2-rate',
    [join(BENCH_DIST, 'baselines', 'argon2-rate.js')],
    {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      BENCH_SECONDS: String(seconds),
      BENCH_CONCURRENCY: String(concurrency),
    },
    ROOT,
  );
  const match = await child.waitForLine(/^(\{.*\})$/m, seconds * 1000 + 30_000);
  await child.exited;
  return (JSON.parse(match[1]!) as { rate: number }).rate;
}

/** Runs bench/baselines/jws-compare.ts (needs dist/) and returns its results; `summary` is one line. */
export async function jwsCompare(quick: boolean): Promise<{ summary: string } & Record<string, unknown>> {
  const child = new Managed(
    'jws-compare',
    [join(BENCH_DIST, 'baselines', 'jws-compare.js')],
    { PATH: process.env.PATH ?? '/usr/bin:/bin', ...(quick ? { BENCH_QUICK: '1' } : {}) },
    ROOT,
  );
  const match = await child.waitForLine(/^(\{"rounds".*\})$/m, 180_000);
  await child.exited;
  return JSON.parse(match[1]!) as { summary: string } & Record<string, unknown>;
}
