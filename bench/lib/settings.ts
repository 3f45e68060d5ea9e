import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the first directory above this file with package.json and bench/. */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bench', 'tsconfig.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('bench: cannot find the repository root');
    dir = parent;
  }
}

export const ROOT = findRoot();

/** The directory of the compiled bench (baselines are spawned from here). */
export const BENCH_DIST = dirname(dirname(fileURLToPath(import.meta.url)));

function int(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`bench: ${name} must be a positive number`);
  return value;
}

const quick = process.env.BENCH_QUICK === '1' || process.env.BENCH_QUICK === 'true';

/** Every knob of a run; BENCH_QUICK=1 is the smoke variant (seconds, not minutes). */
export interface Settings {
  quick: boolean;
  /** Seconds per measured run. */
  duration: number;
  /** Milliseconds to let the service settle (in-flight work, memory at rest) between phases. */
  settle: number;
  /** Seconds of unreported warm-up before a process's first measured run. */
  warmup: number;
  /** Measured runs of each scenario (and of its baseline, alternating). */
  runs: number;
  connections: number;
  /** Users in the table for the small users-page measurement, and for the large one (0: skipped). */
  smallUsers: number;
  largeUsers: number;
  /** Distinct access tokens me-cold cycles through, and the time allowed to mint them. */
  coldTokens: number;
  coldMintSeconds: number;
  /** Users signed up for me-warm (one token per connection) and the token chains of me-cold. */
  warmUsers: number;
  /** Concurrent signins in signin-storm, and the fixed rate of the me-warm probe running meanwhile. */
  stormSignins: number;
  stormProbeRate: number;
  /** Seconds of the raw argon2 measurement, and its concurrency. */
  hashSeconds: number;
  hashConcurrency: number;
  /** Requests after which memory (PSS of the service and its database) is read (cumulative), and the time allowed for them. */
  memoryCheckpoints: number[];
  memorySeconds: number;
  skipBuild: boolean;
  /** BENCH_ONLY=me-warm,refresh,…: run only these scenarios (for working on one path). */
  only?: Set<string>;
  databaseUrl?: string;
  redisUrl?: string;
  keyEncryptionSecret?: string;
  /** The service's SESSION_CACHE_TTL (BENCH_CACHE_TTL; unset: its default), to price the cache's bound. */
  sessionCacheTtl?: string;
  out: string;
}

export const settings: Settings = {
  quick,
  duration: int('BENCH_DURATION', quick ? 1 : 5),
  settle: quick ? 300 : 2_000,
  warmup: quick ? 0 : 2,
  runs: int('BENCH_RUNS', 2),
  connections: int('BENCH_CONNECTIONS', quick ? 10 : 50),
  smallUsers: quick ? 1_000 : 10_000,
  largeUsers: quick ? 0 : 1_000_000,
  coldTokens: int('BENCH_COLD_TOKENS', quick ? 200 : 10_000),
  coldMintSeconds: quick ? 10 : 45,
  warmUsers: quick ? 10 : 50,
  stormSignins: quick ? 10 : 50,
  stormProbeRate: int('BENCH_STORM_PROBE_RATE', quick ? 200 : 1_000),
  hashSeconds: quick ? 0.5 : 3,
  hashConcurrency: 2,
  memoryCheckpoints: quick ? [1_000, 5_000] : [20_000, 200_000],
  memorySeconds: quick ? 15 : 180,
  skipBuild: process.env.BENCH_SKIP_BUILD === '1',
  only: process.env.BENCH_ONLY
    ? new Set(process.env.BENCH_ONLY.split(',').map((name) => name.trim()))
    : undefined,
  databaseUrl: process.env.DATABASE_URL || undefined,
  redisUrl: process.env.REDIS_URL || undefined,
  keyEncryptionSecret: process.env.KEY_ENCRYPTION_SECRET || undefined,
  sessionCacheTtl: process.env.BENCH_CACHE_TTL || undefined,
  out: process.env.BENCH_OUT || join(ROOT, 'bench', 'results', 'latest.json'),
};
