import { request as httpRequest } from 'node:http';

/**
 * HTTP for fault tests: one TCP connection per request (no agent, no
 * keep-alive), so that "the request was dropped" is unambiguous — a response
 * arrived on that connection, or the connection failed — and no client-side
 * retry on a reused socket can hide a failure.
 */
export interface CallResult {
  method: string;
  path: string;
  /** HTTP status, or 0 when no complete response arrived (see `error`). */
  status: number;
  /** The contract's machine code of an error body (`unavailable`, …). */
  code?: string;
  body?: any;
  /** Transport failure (ECONNREFUSED, ECONNRESET, socket hang up, timeout, …) when status is 0. */
  error?: string;
  /** performance.now() when the request was created / fully written to the socket / settled. */
  startedAt: number;
  writtenAt?: number;
  endedAt: number;
}

export interface CallOptions {
  body?: unknown;
  token?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** One request on a connection of its own. Never rejects: failures are in the result. */
export function call(
  baseUrl: string,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<CallResult> {
  const url = new URL(path, baseUrl);
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  const headers: Record<string, string> = { connection: 'close', ...options.headers };
  if (payload !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const startedAt = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    let writtenAt: number | undefined;
    const finish = (result: Omit<CallResult, 'method' | 'path' | 'startedAt' | 'writtenAt' | 'endedAt'>) => {
      if (settled) return;
      settled = true;
      resolve({ method, path, startedAt, writtenAt, endedAt: performance.now(), ...result });
    };
    const request = httpRequest(
      url,
      { method, headers, agent: false, timeout: options.timeoutMs ?? 30_000 },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', (error: NodeJS.ErrnoException) =>
          finish({ status: 0, error: `response: ${error.code ?? error.message}` }),
        );
        response.on('aborted', () => finish({ status: 0, error: 'response aborted' }));
        response.on('end', () => {
          if (!response.complete) return finish({ status: 0, error: 'incomplete response' });
          const text = Buffer.concat(chunks).toString('utf8');
          let body: any;
          try {
            body = text === '' ? undefined : JSON.parse(text);
          } catch {
            body = text;
          }
          finish({
            status: response.statusCode ?? 0,
            body,
            code: typeof body?.code === 'string' ? body.code : undefined,
          });
        });
      },
    );
    request.on('finish', () => (writtenAt = performance.now()));
    request.on('timeout', () => request.destroy(new Error('client timeout')));
    request.on('error', (error: NodeJS.ErrnoException) =>
      finish({ status: 0, error: error.code ?? error.message }),
    );
    request.end(payload);
  });
}

/** A client of one service (base URL), with JSON helpers. */
export class Client {
  constructor(public baseUrl: string) {}

  get = (path: string, token?: string) => call(this.baseUrl, 'GET', path, { token });
  post = (path: string, body?: unknown, token?: string) => call(this.baseUrl, 'POST', path, { body, token });
}

/**
 * Runs `step` in `concurrency` loops until stopped. Each loop waits at least
 * `minIntervalMs` between its iterations, so that fast failures (an outage
 * answered with 503 in a millisecond) do not turn into a flood on a shared
 * machine: the load stays moderate in every phase.
 */
export class Load {
  private stopped = false;
  private readonly loops: Promise<void>[];

  constructor(
    concurrency: number,
    step: (worker: number, iteration: number) => Promise<unknown>,
    minIntervalMs = 20,
  ) {
    this.loops = Array.from({ length: concurrency }, async (_, worker) => {
      for (let iteration = 0; !this.stopped; iteration++) {
        const began = performance.now();
        await step(worker, iteration);
        const rest = minIntervalMs - (performance.now() - began);
        if (rest > 0 && !this.stopped) await new Promise((resolve) => setTimeout(resolve, rest));
      }
    });
  }

  get stopping(): boolean {
    return this.stopped;
  }

  /** No new iterations; resolves when every loop's current one has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }
}

/** Polls `check` until it holds (bounded): waits for a condition, asserts nothing by itself. */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what = 'condition',
  intervalMs = 20,
): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await check()) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`${what}: not met within ${timeoutMs} ms`);
}

/** Counts results by a label (e.g. "signup 201", "me 503 unavailable"). */
export class Tally {
  readonly counts = new Map<string, Map<string, number>>();

  add(group: string, label: string): void {
    const row = this.counts.get(group) ?? new Map<string, number>();
    row.set(label, (row.get(label) ?? 0) + 1);
    this.counts.set(group, row);
  }

  /** A plain-text table: one line per group, its labels with their counts. */
  format(title: string): string {
    const lines = [title];
    const width = Math.max(...[...this.counts.keys()].map((key) => key.length), 5);
    for (const [group, row] of this.counts) {
      const cells = [...row.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}: ${v}`);
      lines.push(`  ${group.padEnd(width)}  ${cells.join(', ')}`);
    }
    return lines.join('\n');
  }
}

/** "201", "503 unavailable", "ECONNRESET": how a result is labelled in tallies. */
export function outcome(result: CallResult): string {
  if (result.status === 0) return `no response (${result.error})`;
  return result.code ? `${result.status} ${result.code}` : String(result.status);
}

/** Formats rows as an aligned text table (first row: headers). */
export function table(rows: (string | number)[][]): string {
  const text = rows.map((row) => row.map(String));
  const widths = text[0]!.map((_, column) => Math.max(...text.map((row) => row[column]?.length ?? 0)));
  return text
    .map((row) =>
      // The first column (labels) aligned left, the others (numbers) right.
      row
        .map((cell, column) => (column === 0 ? cell.padEnd(widths[0]!) : cell.padStart(widths[column]!)))
        .join('  '),
    )
    .join('\n');
}

export const PASSWORD = 'correct horse battery staple';

let emailCounter = 0;
/** A unique email for this run. */
export const uniqueEmail = (prefix: string): string =>
  `${prefix}.${process.pid}.${Date.now().toString(36)}.${++emailCounter}@example.com`;

/** Runs `work` over `items`, at most `concurrency` at a time; resolves with the results in order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index]!, index);
      }
    }),
  );
  return results;
}
