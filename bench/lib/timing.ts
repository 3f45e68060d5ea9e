import { randomInt } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { BenchContext } from './context.js';
import { Latencies, round } from './load.js';

/** What one kind of request of a timing scenario sends, and the status it must get. */
export interface TimedKind<K extends string> {
  kind: K;
  expected: number;
  request: (i: number) => { path: string; body: unknown };
}

/**
 * Requests of several kinds whose answers must not differ in time, one at a
 * time and shuffled together, so that whatever else the machine does falls on
 * every kind alike. Adds a row per kind to the section and keeps the summary
 * under the scenario's name for the checks (`summarise` in run.ts).
 */
export async function timeKinds<K extends string>(
  ctx: BenchContext,
  scenario: string,
  kinds: readonly TimedKind<K>[],
): Promise<void> {
  const { settings: s, section } = ctx;
  const perKind = s.quick ? 20 : 200;
  const order = kinds.flatMap((kind) => Array<TimedKind<K>>(perKind).fill(kind));
  for (let i = order.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const latencies = new Map(kinds.map(({ kind }) => [kind, new Latencies()]));
  const statuses = new Map<K, Record<string, number>>(kinds.map(({ kind }) => [kind, {}]));
  const started = performance.now();
  for (const [i, { kind, request }] of order.entries()) {
    const { path, body } = request(i);
    const { status, ms } = await timedPost(ctx.service.base, path, body);
    latencies.get(kind)!.add(ms);
    const seen = statuses.get(kind)!;
    seen[status] = (seen[status] ?? 0) + 1;
  }
  const seconds = (performance.now() - started) / 1000;

  const summary: Record<string, { p50: number; p90: number; p99: number; statuses: Record<string, number> }> =
    {};
  for (const { kind, expected } of kinds) {
    const { p50, p99 } = latencies.get(kind)!.percentiles();
    const p90 = latencies.get(kind)!.quantile(0.9);
    summary[kind] = { p50, p90, p99, statuses: statuses.get(kind)! };
    const ok = statuses.get(kind)![expected] ?? 0;
    section.add(
      `${scenario} ${kind}`,
      1,
      {
        rps: round(order.length / seconds, 1), // all kinds together: one at a time
        p50,
        p99,
        ok,
        non2xx: perKind - ok,
        errors: 0,
        seconds,
        statuses: Object.fromEntries(
          Object.entries(statuses.get(kind)!).filter(([code]) => code !== String(expected)),
        ),
      },
      { note: `${perKind} sequential, shuffled with the other kinds; p90 ${p90} ms`, fixedRate: true },
    );
  }
  section.scenarios[scenario] = { perKind, summary };
}

/** One POST on its own connection-less request, timed from send to the last byte of the answer. */
function timedPost(base: string, path: string, body: unknown): Promise<{ status: number; ms: number }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = httpRequest(
      new URL(path, base),
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
