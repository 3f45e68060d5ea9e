import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BENCH = join(ROOT, 'node_modules', '.cache', 'gatehouse-bench', 'run.js');

/** Runs the compiled bench with BENCH_QUICK=1 (embedded database only); resolves with its exit code and output. */
function runQuickBench(out: string): Promise<{ code: number | null; output: string }> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    // The smoke run is the embedded database alone, whatever the developer's shell has.
    if (value === undefined || /^(DATABASE_URL|REDIS_URL|KEY_ENCRYPTION_SECRET|BENCH_)/.test(name)) continue;
    env[name] = value;
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BENCH], {
      cwd: ROOT,
      env: { ...env, BENCH_QUICK: '1', BENCH_OUT: out },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

const positive = (value: unknown) => typeof value === 'number' && Number.isFinite(value) && value > 0;

/**
 * The benchmark script itself, in its smoke variant (seconds, 1,000 users,
 * no 1,000,000-user seed): it must run end to end and report every scenario
 * with numbers. No benchmark figure is asserted: that is `npm run bench`'s job.
 */
describe('npm run bench (BENCH_QUICK=1 smoke run)', () => {
  it('runs every scenario and writes its numbers to JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-smoke-'));
    try {
      execFileSync(
        process.execPath,
        [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'bench/tsconfig.json'],
        {
          cwd: ROOT,
          stdio: 'pipe',
        },
      );
      const out = join(dir, 'latest.json');
      const { code, output } = await runQuickBench(out);
      expect(code, output).toBe(0);

      const results = JSON.parse(readFileSync(out, 'utf8'));
      expect(results.error, output).toBeUndefined();
      expect(results.quick).toBe(true);
      const db = results.databases.embedded;
      expect(db, output).toBeDefined();
      const s = db.scenarios;

      for (const name of ['bare-http', 'bare-jwt', 'me-warm', 'me-cold', 'refresh']) {
        expect(s[name].runs.length, name).toBeGreaterThanOrEqual(2);
        for (const run of s[name].runs) {
          for (const key of ['rps', 'p50', 'p99']) expect(positive(run[key]), `${name} ${key}`).toBe(true);
          if (!name.startsWith('bare-')) {
            expect(positive(run.vsHttp), `${name} vsHttp`).toBe(true);
            expect(positive(run.vsJwt), `${name} vsJwt`).toBe(true);
          }
        }
      }

      expect(s['signin-storm'].runs.length).toBeGreaterThanOrEqual(2);
      for (const run of s['signin-storm'].runs) {
        for (const key of ['signinRate', 'hashRate', 'ratio', 'meWarmRps', 'meWarmP99']) {
          expect(positive(run[key]), `signin-storm ${key}`).toBe(true);
        }
      }

      // Timing: every request of a kind got the kind's status (401 or 200 for signins, 202 for every forgot).
      for (const [name, kinds] of [
        ['signin-timing', ['unknown email', 'wrong password', 'right password']],
        ['forgot-timing', ['unknown address', 'disabled account', 'existing account']],
      ] as const) {
        for (const kind of kinds) {
          const row = db.rows.find((r: { scenario: string }) => r.scenario === `${name} ${kind}`);
          expect(row, `${name} ${kind}`).toBeDefined();
          expect(row.ok, `${name} ${kind}: ${JSON.stringify(row.statuses)}`).toBe(s[name].perKind);
          expect(positive(s[name].summary[kind].p50), `${name} ${kind} p50`).toBe(true);
        }
      }

      const pages = s['users-page']['1k'];
      expect(pages.users).toBeGreaterThanOrEqual(1_000);
      expect(pages.runs.length).toBeGreaterThanOrEqual(2);
      for (const run of pages.runs) {
        for (const page of ['first', 'deep']) {
          for (const key of ['rps', 'p50', 'p99'])
            expect(positive(run[page][key]), `users-page ${page} ${key}`).toBe(true);
        }
      }

      // Start to ready (spawn until /health/ready), on a fresh DATA_DIR and on the existing one.
      expect(positive(s.seed.firstStartSeconds), 'firstStartSeconds').toBe(true);
      expect(positive(s.seed.restartSeconds), 'restartSeconds').toBe(true);
      expect(positive(s.memory.startSeconds), 'memory startSeconds').toBe(true);

      // Memory: PSS of the service plus the embedded database's processes (its children).
      expect(positive(s.memory.restMB)).toBe(true);
      expect(s.memory.points).toHaveLength(3);
      for (const point of s.memory.points) {
        for (const key of ['pssMB', 'nodePssMB', 'nodeRssMB', 'databasePssMB'])
          expect(positive(point[key]), `memory ${key}`).toBe(true);
        expect(point.databaseProcesses, 'PostgreSQL processes under the service').toBeGreaterThanOrEqual(2);
        expect(point.processes.some((p: { command: string }) => /postgres/.test(p.command))).toBe(true);
        const sum = point.processes.reduce((total: number, p: { pssMB: number }) => total + p.pssMB, 0);
        expect(Math.abs(sum - point.pssMB)).toBeLessThan(1);
      }
      expect(s.memory.restMB).toBe(s.memory.points[0].pssMB);
      expect(positive(s.memory.points[2].requests)).toBe(true);

      const targets = db.checks.map((check: { target: string }) => check.target);
      for (const target of [
        'start to ready, fresh DATA_DIR ≤ 3 s',
        'start to ready, existing DATA_DIR ≤ 1.5 s',
        'memory at rest ≤ 250 MB (PSS, service + database)',
        'refresh ≥ 1,000/s',
        'signin rate ≥ 80 % of raw argon2',
        'me-warm p99 during storm < 25 ms',
        'signin: unknown email ÷ wrong password, median',
        'forgot: unknown address ÷ existing account, median',
        'forgot: disabled account ÷ existing account, median',
      ]) {
        expect(targets, target).toContain(target);
      }
      expect(targets.some((target: string) => /^memory after [\d,]+ requests ≤ 250 MB/.test(target))).toBe(
        true,
      );
      for (const check of db.checks) expect(typeof check.met, check.target).toBe('boolean');
      expect(output).toContain('| database | scenario');
      // Ours against jose: it imports the built service's modules, so a moved file must fail here.
      expect(results.jws, output).toBeDefined();
      expect(results.jws.error, output).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
