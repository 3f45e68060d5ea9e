import { randomInt } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { BenchContext } from '../lib/context.js';
import { Latencies, round } from '../lib/load.js';

/** The kinds of signin whose answers must not differ in time: the contract's "no measurable difference". */
const KINDS = ['unknown email', 'wrong password', 'right password'] as const;
type Kind = (typeof KINDS)[number];

/**
 * signin-timing: one signin at a time, the three kinds shuffled together so
 * that whatever else the machine does falls on all of them alike. An unknown
 * email and a wrong password must cost the same (the service verifies a
 * dummy hash for an unknown email); the right password is shown for scale
 * (it also opens a session). The tests prove the equal work structurally
 * (test/auth/enumeration.test.ts); this measures what a client would see.
 */
export async function signinTiming(ctx: BenchContext): Promise<void> {
  const { settings: s, section } = ctx;
  const perKind = s.quick ? 20 : 200;
  const order: Kind[] = KINDS.flatMap((kind) => Array<Kind>(perKind).fill(kind));
  for (let i = order.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const latencies = new Map(KINDS.map((kind) => [kind, new Latencies()]));
  const statuses = new Map<Kind, Record<string, number>>(KINDS.map((kind) => [kind, {}]));
  const started = performance.now();
  for (const [i, kind] of order.entries()) {
    const account = ctx.warm[i % ctx.warm.length]!;
    const body =
      kind === 'unknown email'
        ? { email: `nobody-${i}@timing.example.com`, password: account.password }
        : {
            email: account.email,
            password: kind === 'right password' ? account.password : `${account.password}x`,
          };
    const { status, ms } = await timedPost(ctx.service.base, '/auth/signin', body);
    latencies.get(kind)!.add(ms);
    const seen = statuses.get(kind)!;
    seen[status] = (seen[status] ?? 0) + 1;
  }
  const seconds = (performance.now() - started) / 1000;

  const summary: Record<string, { p50: number; p90: number; p99: number; statuses: Record<string, number> }> =
    {};
  for (const kind of KINDS) {
    const { p50, p99 } = latencies.get(kind)!.percentiles();
    const p90 = latencies.get(kind)!.quantile(0.9);
    summary[kind] = { p50, p90, p99, statuses: statuses.get(kind)! };
    const expected = kind === 'right password' ? '200' : '401';
    const ok = statuses.get(kind)![expected] ?? 0;
    section.add(
      `signin-timing ${kind}`,
      1,
      {
        rps: round(order.length / seconds, 1), // all three kinds together: one at a time
        p50,
        p99,
        ok,
        non2xx: perKind - ok,
        errors: 0,
        seconds,
        statuses: Object.fromEntries(
          Object.entries(statuses.get(kind)!).filter(([code]) => code !== expected),
        ),
      },
      { note: `${perKind} sequential, shuffled with the other kinds; p90 ${p90} ms`, fixedRate: true },
    );
  }
  section.scenarios['signin-timing'] = { perKind, summary };
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
