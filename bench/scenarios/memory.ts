import { pause, tokenCycle } from '../lib/clients.js';
import type { BenchContext } from '../lib/context.js';
import { cannon, type Measurement, round } from '../lib/load.js';

const MB = 1024 * 1024;
const CHUNK = 20_000;

/**
 * memory: RSS of a freshly started service (VmRSS), idle, then after each
 * checkpoint of cumulative requests (20,000 and 200,000): GET /users/me
 * cycling through the me-cold tokens, so that every per-token cache is full
 * before the first checkpoint. Starts the (stopped) service itself.
 */
export async function memory(ctx: BenchContext): Promise<void> {
  const { settings: s, section } = ctx;
  await ctx.service.start();
  await pause(s.settle);
  const idle = ctx.service.rss();
  const points = [{ requests: 0, rssMB: round(idle / MB, 1) }];
  const started = Date.now();
  let done = 0;
  let run = 0;
  for (const checkpoint of s.memoryCheckpoints) {
    let ok = 0;
    let non2xx = 0;
    let errors = 0;
    let seconds = 0;
    let last: Measurement | undefined;
    while (done < checkpoint && Date.now() - started < s.memorySeconds * 1000) {
      const amount = Math.min(CHUNK, checkpoint - done);
      last = await cannon({
        base: ctx.service.base,
        connections: s.connections,
        amount,
        requests: tokenCycle(ctx.coldTokens, '/users/me'),
      });
      done += last.ok + last.non2xx;
      ok += last.ok;
      non2xx += last.non2xx;
      errors += last.errors;
      seconds += last.seconds;
    }
    const rss = ctx.service.rss();
    points.push({ requests: done, rssMB: round(rss / MB, 1) });
    run++;
    section.add(
      `memory to ${checkpoint.toLocaleString('en-US')}`,
      run,
      {
        rps: round(ok / Math.max(seconds, 0.001), 1),
        p50: last?.p50 ?? 0,
        p99: last?.p99 ?? 0,
        ok,
        non2xx,
        errors,
        seconds,
        statuses: last?.statuses ?? {},
      },
      {
        note:
          `RSS ${(rss / MB).toFixed(0)} MB after ${done.toLocaleString('en-US')} requests` +
          ` (idle ${(idle / MB).toFixed(0)} MB)` +
          (done < checkpoint ? `; stopped at the ${s.memorySeconds} s limit` : ''),
      },
    );
  }
  ctx.section.scenarios.memory = { idleMB: points[0]!.rssMB, points, tokens: ctx.coldTokens.length };
}
