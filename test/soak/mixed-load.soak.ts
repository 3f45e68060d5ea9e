import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { PASSWORD, table, uniqueEmail } from '../support/load.js';
import { freePort, killAll, ServiceProcess } from '../support/process.js';
import { createPostgresDatabase } from '../support/services.js';

/**
 * Soak: a mixed load on one real service process for SOAK_SECONDS (default
 * 600; CI runs 60), watching for 5xx answers and for growth of the process's
 * memory (RSS) and open file descriptors.
 *
 * Load: SOAK_CONCURRENCY (default 3) simulated clients, each repeating a
 * journey — signup, GET /users/me, GET /auth/sessions, refresh, /users/me with
 * the new token, signin (a second session), signout of it — over keep-alive
 * connections (fetch), while an admin lists GET /users every few seconds.
 * Every answer must be the one the contract gives for that step (201, 200 or
 * 204): no 5xx, no 4xx, no dropped connection.
 *
 * Growth: RSS (VmRSS of /proc/<pid>/status) and the number of entries in
 * /proc/<pid>/fd are sampled every second. The first 20 % of the run is
 * warm-up (JIT, pools, caches filling); the average over 40–60 % of the run
 * (the middle) is compared with the average over its last 20 %:
 *  - RSS: each window's lowest sample (just after a collection: the live data,
 *    not the GC sawtooth, which swings 30–40 MB within seconds and made the
 *    averages of a 60 s run unreliable) — the end's may exceed the middle's by
 *    at most max(RSS_MIN_SLACK_MB, RSS_SLACK_RATIO × middle). The slack covers
 *    the bounded caches that fill during a run (verified-token LRU: 10,000
 *    tokens, session state LRU); a leak of ~1 KB per request (≈ 100 req/s)
 *    adds ≥ 6 MB a minute, raises the minimum with it and fails a 10-minute
 *    soak.
 *  - File descriptors: at most FD_SLACK more on average (the pg pool opens and
 *    idles out connections; keep-alive sockets come and go).
 *
 * SOAK_DATABASE=embedded|postgres picks the database (default: PostgreSQL
 * when the shared server is reachable — the production set-up — else the
 * embedded one; either way the RSS measured is the node process's own).
 */
const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 3);
const RSS_MIN_SLACK_MB = 32;
const RSS_SLACK_RATIO = 0.1;
const FD_SLACK = 5;
const SAMPLE_EVERY_MS = 1_000;
const ADMIN = { email: `soak-admin.${process.pid}@example.com`, password: 'soak admin password 1234' };

interface Sample {
  t: number;
  rssMb: number;
  fds: number;
}

function sample(pid: number, t: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  return { t, rssMb: rssKb / 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

const average = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

class Stats {
  readonly byOp = new Map<string, { statuses: Map<string, number>; latencies: number[] }>();
  total = 0;

  add(op: string, status: string, ms: number): void {
    const entry = this.byOp.get(op) ?? { statuses: new Map<string, number>(), latencies: [] };
    entry.statuses.set(status, (entry.statuses.get(status) ?? 0) + 1);
    entry.latencies.push(ms);
    this.byOp.set(op, entry);
    this.total++;
  }

  count(predicate: (status: string) => boolean): number {
    let n = 0;
    for (const { statuses } of this.byOp.values()) {
      for (const [status, count] of statuses) if (predicate(status)) n += count;
    }
    return n;
  }
}

describe('soak: mixed load', () => {
  let dataDir: string | undefined;
  let drop: (() => Promise<void>) | undefined;

  afterAll(async () => {
    await killAll();
    await drop?.();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it(
    `${SECONDS} s of mixed load: no 5xx, no memory or file-descriptor growth`,
    async () => {
      const onPostgres =
        process.env.SOAK_DATABASE === 'postgres' ||
        (process.env.SOAK_DATABASE !== 'embedded' && inject('postgresAvailable'));
      let database: Record<string, string>;
      if (onPostgres) {
        const created = await createPostgresDatabase();
        drop = created.drop;
        database = {
          DATABASE_URL: created.url,
          KEY_ENCRYPTION_SECRET: 'soak-test-secret-0123456789abcdef0123456789',
        };
      } else {
        dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-soak-'));
        database = { DATA_DIR: dataDir };
      }
      const service = new ServiceProcess(await freePort(), {
        ...database,
        ADMIN_EMAIL: ADMIN.email,
        ADMIN_PASSWORD: ADMIN.password,
        RATE_LIMIT_PER_MINUTE: '1000000',
        LOG_LEVEL: 'warn',
      });
      await service.waitFor('/health/ready', 120_000);
      console.log(
        `soak: ${SECONDS} s, ${CONCURRENCY} clients, database ${onPostgres ? 'PostgreSQL' : 'embedded'}, pid ${service.pid}`,
      );

      const stats = new Stats();
      const failures: string[] = [];
      /** One request over the keep-alive pool; records its status, and any unexpected one. */
      const api = async (
        op: string,
        expected: number,
        method: string,
        path: string,
        options: { body?: unknown; token?: string } = {},
      ): Promise<any> => {
        const headers: Record<string, string> = {};
        if (options.body !== undefined) headers['content-type'] = 'application/json';
        if (options.token) headers.authorization = `Bearer ${options.token}`;
        const started = performance.now();
        let status: string;
        let body: any;
        try {
          const response = await fetch(service.baseUrl + path, {
            method,
            headers,
            body: options.body === undefined ? undefined : JSON.stringify(options.body),
            signal: AbortSignal.timeout(30_000),
          });
          const text = await response.text();
          body = text === '' ? undefined : JSON.parse(text);
          status = String(response.status);
        } catch (error) {
          status = `no response (${(error as Error & { cause?: { code?: string } }).cause?.code ?? (error as Error).name})`;
        }
        stats.add(op, status, performance.now() - started);
        if (status !== String(expected)) {
          if (failures.length < 20) failures.push(`${op}: ${status} ${JSON.stringify(body)?.slice(0, 200)}`);
          return undefined;
        }
        return body ?? {};
      };

      const startedAt = performance.now();
      const endAt = startedAt + SECONDS * 1000;
      const samples: Sample[] = [];
      let lastReport = startedAt;
      const sampler = setInterval(() => {
        const now = performance.now();
        if (service.hasExited) return;
        samples.push(sample(service.pid, (now - startedAt) / 1000));
        if (now - lastReport >= 60_000) {
          lastReport = now;
          const last = samples.at(-1)!;
          console.log(
            `  t=${Math.round(last.t)} s: ${stats.total} requests, ${stats.count((s) => !/^2/.test(s))} not 2xx, ` +
              `RSS ${last.rssMb.toFixed(1)} MB, ${last.fds} fds`,
          );
        }
      }, SAMPLE_EVERY_MS);

      // The JS heap and external memory (ArrayBuffers, native buffers), from the
      // service's own /metrics every 5 s: they tell a JavaScript leak from the database's cache growing.
      const heapSamples: { t: number; heapMb: number; externalMb: number }[] = [];
      const metricsPoller = (async () => {
        const gauge = (text: string, name: string) =>
          Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN) / 1024 / 1024;
        while (performance.now() < endAt && !service.hasExited) {
          try {
            const text = await (await fetch(`${service.baseUrl}/metrics`)).text();
            heapSamples.push({
              t: (performance.now() - startedAt) / 1000,
              heapMb: gauge(text, 'nodejs_heap_size_used_bytes'),
              externalMb: gauge(text, 'nodejs_external_memory_bytes'),
            });
          } catch {
            // counted by the load's own checks
          }
          await new Promise((resolve) =>
            setTimeout(resolve, Math.max(0, Math.min(5_000, endAt - performance.now()))),
          );
        }
      })();

      const journey = async () => {
        const email = uniqueEmail('soak');
        const signup = await api('POST /auth/signup', 201, 'POST', '/auth/signup', {
          body: { email, password: PASSWORD },
        });
        if (!signup) return;
        let { accessToken, refreshToken } = signup as { accessToken: string; refreshToken: string };
        for (let round = 0; round < 3 && performance.now() < endAt; round++) {
          for (let i = 0; i < 3; i++)
            await api('GET /users/me', 200, 'GET', '/users/me', { token: accessToken });
          await api('GET /auth/sessions', 200, 'GET', '/auth/sessions', { token: accessToken });
          const refreshed = await api('POST /auth/refresh', 200, 'POST', '/auth/refresh', {
            body: { refreshToken },
          });
          if (!refreshed) return;
          ({ accessToken, refreshToken } = refreshed as { accessToken: string; refreshToken: string });
          await api('GET /users/me', 200, 'GET', '/users/me', { token: accessToken });
        }
        const signin = await api('POST /auth/signin', 200, 'POST', '/auth/signin', {
          body: { email, password: PASSWORD },
        });
        if (!signin) return;
        await api('GET /users/me', 200, 'GET', '/users/me', { token: signin.accessToken });
        await api('POST /auth/signout', 204, 'POST', '/auth/signout', { token: signin.accessToken });
      };

      const admin = async () => {
        let token: string | undefined;
        let signedInAt = 0;
        while (performance.now() < endAt) {
          // A fresh access token every 5 minutes (they last 15).
          if (!token || performance.now() - signedInAt > 300_000) {
            const signin = await api('POST /auth/signin (admin)', 200, 'POST', '/auth/signin', {
              body: ADMIN,
            });
            token = signin?.accessToken;
            signedInAt = performance.now();
          }
          if (token) await api('GET /users (admin)', 200, 'GET', '/users?limit=20', { token });
          // Paced, not waiting for anything: one list every ~2 s.
          await new Promise((resolve) =>
            setTimeout(resolve, Math.max(0, Math.min(2_000, endAt - performance.now()))),
          );
        }
      };

      try {
        await Promise.all([
          metricsPoller,
          admin(),
          ...Array.from({ length: CONCURRENCY }, async () => {
            while (performance.now() < endAt && !service.hasExited) await journey();
          }),
        ]);
      } finally {
        clearInterval(sampler);
      }
      const elapsed = (performance.now() - startedAt) / 1000;
      expect(service.hasExited, service.stderr).toBe(false);

      // Requests by route: statuses, latency.
      const rows: (string | number)[][] = [['request', 'count', 'statuses', 'p50 ms', 'p99 ms', 'max ms']];
      for (const [op, { statuses, latencies }] of [...stats.byOp].sort(([a], [b]) => a.localeCompare(b))) {
        const sorted = [...latencies].sort((a, b) => a - b);
        rows.push([
          op,
          latencies.length,
          [...statuses].map(([status, count]) => `${status}×${count}`).join(' '),
          percentile(sorted, 50).toFixed(1),
          percentile(sorted, 99).toFixed(1),
          sorted.at(-1)!.toFixed(1),
        ]);
      }
      rows.push([
        'total',
        stats.total,
        `${(stats.total / elapsed).toFixed(1)} req/s over ${elapsed.toFixed(0)} s`,
        '',
        '',
        '',
      ]);
      console.log(table(rows));

      // Growth: the middle of the run against its end, after warm-up.
      const between = (from: number, to: number) =>
        samples.filter((s) => s.t >= from * elapsed && s.t <= to * elapsed);
      const warmup = between(0, 0.2);
      const middle = between(0.4, 0.6);
      const end = between(0.8, 1);
      const rss = {
        middle: Math.min(...middle.map((s) => s.rssMb)),
        end: Math.min(...end.map((s) => s.rssMb)),
      };
      const fds = { middle: average(middle.map((s) => s.fds)), end: average(end.map((s) => s.fds)) };
      const rssAllowed = Math.max(RSS_MIN_SLACK_MB, RSS_SLACK_RATIO * rss.middle);
      console.log(
        table([
          [
            'resource',
            'after warm-up (20 %)',
            'middle (40–60 %)',
            'end (80–100 %)',
            'growth',
            'allowed',
            'max',
          ],
          [
            'RSS MB (lowest)',
            warmup.at(-1)?.rssMb.toFixed(1) ?? '-',
            rss.middle.toFixed(1),
            rss.end.toFixed(1),
            (rss.end - rss.middle).toFixed(1),
            rssAllowed.toFixed(1),
            Math.max(...samples.map((s) => s.rssMb)).toFixed(1),
          ],
          [
            'open fds (avg)',
            warmup.at(-1)?.fds ?? '-',
            fds.middle.toFixed(1),
            fds.end.toFixed(1),
            (fds.end - fds.middle).toFixed(1),
            FD_SLACK,
            Math.max(...samples.map((s) => s.fds)),
          ],
        ]),
      );
      // For information: the JS heap's lowest point in a window is close to its live data (just after
      // a collection), so a leak shows as a rising minimum.
      const heapBetween = (from: number, to: number) =>
        heapSamples.filter((s) => s.t >= from * elapsed && s.t <= to * elapsed);
      const stat = (pick: (s: (typeof heapSamples)[number]) => number) => {
        const [middleSamples, endSamples] = [heapBetween(0.4, 0.6).map(pick), heapBetween(0.8, 1).map(pick)];
        return [
          Math.min(...middleSamples).toFixed(1),
          average(middleSamples).toFixed(1),
          Math.min(...endSamples).toFixed(1),
          average(endSamples).toFixed(1),
        ];
      };
      console.log(
        `samples: ${samples.length} of RSS and fds (every ${SAMPLE_EVERY_MS} ms), ${heapSamples.length} of /metrics (every 5 s)\n` +
          table([
            ['from /metrics (information)', 'middle min', 'middle avg', 'end min', 'end avg'],
            ['JS heap used MB', ...stat((s) => s.heapMb)],
            ['external memory MB', ...stat((s) => s.externalMb)],
          ]),
      );

      expect(failures).toEqual([]);
      expect(stats.count((status) => /^5/.test(status))).toBe(0);
      expect(middle.length).toBeGreaterThanOrEqual(3);
      expect(end.length).toBeGreaterThanOrEqual(3);
      expect(rss.end - rss.middle).toBeLessThanOrEqual(rssAllowed);
      expect(fds.end - fds.middle).toBeLessThanOrEqual(FD_SLACK);
      await service.stop('SIGTERM');
    },
    SECONDS * 1000 + 300_000,
  );
});
