import { Agent, request as httpRequest } from 'node:http';
import autocannon from 'autocannon';

/** What one measured run produced. Latencies in milliseconds, over 2xx responses only. */
export interface Measurement {
  /** 2xx responses per second. */
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  non2xx: number;
  errors: number;
  seconds: number;
  /** Status codes other than 2xx, with counts (empty when none). */
  statuses: Record<string, number>;
}

/** Collects latencies (floats, ms) without allocating per sample. */
export class Latencies {
  private values = new Float64Array(1 << 16);
  private count = 0;

  add(ms: number): void {
    if (this.count === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.count++] = ms;
  }

  get size(): number {
    return this.count;
  }

  /** The value at quantile q (0–1), ms. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const sorted = this.values.slice(0, this.count).sort();
    return round(sorted[Math.min(this.count - 1, Math.ceil(q * this.count) - 1)]!);
  }

  percentiles(): { p50: number; p99: number } {
    if (this.count === 0) return { p50: 0, p99: 0 };
    const sorted = this.values.subarray(0, this.count).sort();
    const at = (q: number) => sorted[Math.min(this.count - 1, Math.ceil(q * this.count) - 1)]!;
    return { p50: round(at(0.5)), p99: round(at(0.99)) };
  }
}

export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export interface CannonOptions {
  base: string;
  connections: number;
  /** Seconds; ignored when `amount` is set. */
  duration?: number;
  amount?: number;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  requests?: autocannon.Request[];
  setupClient?: (client: autocannon.Client) => void;
}

/**
 * One autocannon run in this process (the target is another process).
 * Latencies are taken from autocannon's own per-response timings, as floats:
 * its histogram rounds to whole milliseconds, too coarse for sub-ms routes.
 */
export async function cannon(options: CannonOptions): Promise<Measurement> {
  const latencies = new Latencies();
  const statuses: Record<string, number> = {};
  let ok = 0;
  const started = performance.now();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.base + (options.path ?? ''),
        connections: options.connections,
        ...(options.amount ? { amount: options.amount } : { duration: options.duration ?? 5 }),
        method: options.method ?? 'GET',
        headers: options.headers,
        body: options.body,
        requests: options.requests,
        setupClient: options.setupClient,
        timeout: 30,
        // Stop promptly after the duration (it is checked on each sample tick).
        sampleInt: 100,
      },
      (error, res) => (error ? reject(error) : resolve(res)),
    );
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status >= 200 && status < 300) {
        ok++;
        latencies.add(ms);
      } else {
        statuses[status] = (statuses[status] ?? 0) + 1;
      }
    });
  });
  const seconds = (performance.now() - started) / 1000;
  return {
    rps: round(ok / seconds, 1),
    ...latencies.percentiles(),
    ok,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    seconds: round(seconds),
    statuses,
  };
}

/**
 * An open-loop probe: `rate` GET requests a second at fixed intervals, each
 * timed from its send to the end of its response, whatever the others do.
 * Used where a latency under a given load is wanted, not a maximum rate
 * (autocannon's rate limit sends each second's requests in one burst).
 */
export async function paced(options: {
  base: string;
  path: string;
  rate: number;
  seconds: number;
  headers: (index: number) => Record<string, string>;
}): Promise<Measurement> {
  const url = new URL(options.base);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const latencies = new Latencies();
  const statuses: Record<string, number> = {};
  let ok = 0;
  let errors = 0;
  let sent = 0;
  let pending = 0;
  const total = Math.round(options.rate * options.seconds);
  const interval = 1000 / options.rate;
  const started = performance.now();

  await new Promise<void>((resolve) => {
    const finishOne = () => {
      pending--;
      if (sent === total && pending === 0) resolve();
    };
    const fire = () => {
      const index = sent++;
      pending++;
      const t0 = performance.now();
      const req = httpRequest(
        {
          agent,
          host: url.hostname,
          port: url.port,
          path: options.path,
          method: 'GET',
          headers: options.headers(index),
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              ok++;
              latencies.add(performance.now() - t0);
            } else {
              statuses[status] = (statuses[status] ?? 0) + 1;
            }
            finishOne();
          });
        },
      );
      req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        errors++;
        finishOne();
      });
      req.end();
    };
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor((performance.now() - started) / interval) + 1);
      while (sent < due) fire();
      if (sent === total) clearInterval(timer);
    }, 1);
  });
  agent.destroy();
  const seconds = (performance.now() - started) / 1000;
  const non2xx = Object.values(statuses).reduce((sum, count) => sum + count, 0);
  return {
    rps: round(ok / seconds, 1),
    ...latencies.percentiles(),
    ok,
    non2xx,
    errors,
    seconds: round(seconds),
    statuses,
  };
}

/**
 * Waits until requests left queued in the service by a finished run are
 * done: sends one more request of the same kind and waits for its answer
 * (the service serves its queue in order). Returns the seconds it took.
 */
export async function drain(base: string, path: string, headers: Record<string, string>): Promise<number> {
  const started = performance.now();
  try {
    const response = await fetch(base + path, { headers, signal: AbortSignal.timeout(120_000) });
    await response.arrayBuffer();
  } catch {
    // a drain that fails or times out only ends the wait
  }
  return (performance.now() - started) / 1000;
}
