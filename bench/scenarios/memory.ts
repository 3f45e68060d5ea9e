import { pause, tokenCycle } from '../lib/clients.js';
import type { BenchContext } from '../lib/context.js';
import { cannon, type Measurement, round } from '../lib/load.js';
import type { TreeMemory } from '../lib/service.js';

const MB = 1024 * 1024;
const CHUNK = 20_000;

/** One reading: PSS of the service plus its database processes, and what it is made of. */
export interface MemoryPoint {
  requests: number;
  /** PSS of the service's process and every descendant (the embedded database's), MB. */
  pssMB: number;
  /** The node process alone: its PSS, and its RSS (VmRSS) as `ps` shows it, MB. */
  nodePssMB: number;
  nodeRssMB: number;
  /** PSS of the descendants (the PostgreSQL postmaster and its children), MB; 0 with DATABASE_URL. */
  databasePssMB: number;
  databaseProcesses: number;
  /** Every process of the tree, largest PSS first. */
  processes: {
    pid: number;
    ppid: number;
    command: string;
    pssMB: number;
    rssMB: number;
    privateMB: number;
  }[];
}

function point(requests: number, m: TreeMemory): MemoryPoint {
  const mb = (bytes: number) => round(bytes / MB, 1);
  return {
    requests,
    pssMB: mb(m.pss),
    nodePssMB: mb(m.nodePss),
    nodeRssMB: mb(m.nodeRss),
    databasePssMB: mb(m.pss - m.nodePss),
    databaseProcesses: m.processes.length - 1,
    processes: m.processes
      .map((p) => ({
        pid: p.pid,
        ppid: p.ppid,
        command: p.command,
        pssMB: round(p.pssKB / 1024, 1),
        rssMB: round(p.rssKB / 1024, 1),
        privateMB: round(p.privateKB / 1024, 1),
      }))
      .sort((a, b) => b.pssMB - a.pssMB),
  };
}

/** "PSS 180 MB (node 120 + database 60 in 9 processes); node RSS 150 MB" */
export function describeMemory(p: MemoryPoint): string {
  const database = p.databaseProcesses
    ? ` (node ${p.nodePssMB.toFixed(0)} + database ${p.databasePssMB.toFixed(0)} in ${p.databaseProcesses} processes)`
    : ' (service alone)';
  return `PSS ${p.pssMB.toFixed(0)} MB${database}; node RSS ${p.nodeRssMB.toFixed(0)} MB`;
}

/**
 * memory: PSS of a freshly started service plus its database processes (the
 * sum of /proc/<pid>/smaps_rollup over the service and its descendants), at
 * rest, then after each checkpoint of cumulative requests (20,000 and
 * 200,000): GET /users/me cycling through the me-cold tokens, so that every
 * per-token cache is full before the first checkpoint. The node process's RSS
 * is kept alongside. Starts the (stopped) service itself.
 */
export async function memory(ctx: BenchContext): Promise<void> {
  const { settings: s, section } = ctx;
  const startSeconds = await ctx.service.start();
  await pause(s.settle);
  const rest = point(0, ctx.service.memory());
  const points = [rest];
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
    // Refused requests would measure the error path's memory, not the service's.
    if (non2xx || errors) {
      throw new Error(`memory: ${non2xx} non-2xx and ${errors} errors (${JSON.stringify(last?.statuses)})`);
    }
    const after = point(done, ctx.service.memory());
    points.push(after);
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
          `${describeMemory(after)} after ${done.toLocaleString('en-US')} requests` +
          ` (at rest PSS ${rest.pssMB.toFixed(0)} MB)` +
          (done < checkpoint ? `; stopped at the ${s.memorySeconds} s limit` : ''),
      },
    );
  }
  ctx.section.scenarios.memory = {
    restMB: rest.pssMB,
    startSeconds: round(startSeconds, 2),
    startupMs: ctx.service.lastStartupMs,
    checkpoints: s.memoryCheckpoints,
    points,
    tokens: ctx.coldTokens.length,
  };
}
