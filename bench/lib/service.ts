import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Managed, freePort } from './processes.js';
import { BENCH_DIST, ROOT } from './settings.js';

/** The service under test: `node dist/main.js` as its own process, on 127.0.0.1. */
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

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    if (!this.process) throw new Error('the service is not running');
    return this.process.pid;
  }

  async start(): Promise<number> {
    const started = performance.now();
    this.port = await freePort();
    this.process = new Managed(
      `gatehouse (${this.kind})`,
      // For profiling: BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench
      [...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), 'dist/main.js'],
      {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        ...this.env,
        HOST: '127.0.0.1',
        PORT: String(this.port),
      },
      ROOT,
      this.logFile,
    );
    await this.process.waitForHttp(`${this.base}/health/live`, 120_000);
    return (performance.now() - started) / 1000;
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
