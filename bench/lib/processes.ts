import getPort from 'get-port';
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Every process the bench started and has not seen exit: stopped on the way out. */
const running = new Set<Managed>();

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export const freePort = (): Promise<number> => getPort({ host: '127.0.0.1' });

/** A child process of the bench, its output kept for error messages. */
export class Managed {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  private output = '';
  private exitCode: number | null | undefined;
  private exitSignal: NodeJS.Signals | null = null;
  /** Set by `stop()`: an exit after it is expected. */
  private stopping = false;

  /**
   * `stdoutFile`: standard output goes straight to that file, as a deployed
   * service's logs go to a collector, so that the bench process does not
   * spend its CPU reading a request log line per request.
   */
  constructor(
    readonly name: string,
    args: string[],
    env: Record<string, string>,
    cwd: string,
    private readonly stdoutFile?: string,
  ) {
    const stdout = stdoutFile ? openSync(stdoutFile, 'a') : 'pipe';
    this.child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', stdout, 'pipe'] });
    if (typeof stdout === 'number') closeSync(stdout);
    const keep = (chunk: string) => {
      this.output = (this.output + chunk).slice(-20_000);
    };
    this.child.stdout?.setEncoding('utf8').on('data', keep);
    this.child.stderr!.setEncoding('utf8').on('data', keep);
    running.add(this);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        running.delete(this);
        resolve();
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get hasExited(): boolean {
    return this.exitCode !== undefined;
  }

  /** The last of its output (standard error, and standard output or the end of its file). */
  get log(): string {
    return this.stdoutFile ? `${tail(this.stdoutFile, 16_000)}${this.output}` : this.output;
  }

  /** When the process exited without being asked to: how, and its last output; else undefined. */
  get unexpectedExit(): string | undefined {
    if (!this.hasExited || this.stopping) return undefined;
    return `${this.name} (pid ${this.pid}) exited by itself (code ${String(this.exitCode)}, signal ${String(this.exitSignal)}); its last output:\n${this.log.slice(-4_000)}`;
  }

  /** Resolves with the first stdout line matching `pattern`; rejects if the process exits first. */
  async waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const match = pattern.exec(this.output);
      if (match) return match;
      if (this.hasExited) throw new Error(`${this.name} exited early:\n${this.output}`);
      await sleep(20);
    }
    throw new Error(`${this.name} did not print ${String(pattern)} within ${timeoutMs} ms:\n${this.output}`);
  }

  /** Polls `url` every `intervalMs` until it answers 200; rejects if the process exits first. */
  async waitForHttp(url: string, timeoutMs: number, intervalMs = 50): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.hasExited) throw new Error(`${this.name} exited during start:\n${this.log}`);
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
        await response.arrayBuffer();
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      await sleep(intervalMs);
    }
    throw new Error(`${this.name} was not ready within ${timeoutMs} ms:\n${this.log}`);
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    this.stopping = true;
    if (this.hasExited) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Resident set size in bytes (VmRSS of /proc/<pid>/status). */
  rss(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    if (!match) throw new Error(`no VmRSS for ${this.name}`);
    return Number(match[1]) * 1024;
  }
}

/** One process of a tree, its memory from /proc/<pid>/smaps_rollup. */
export interface ProcessMemory {
  pid: number;
  ppid: number;
  /** Its command line (PostgreSQL's processes name their role there: "postgres: checkpointer"). */
  command: string;
  /** Proportional set size: its private pages plus its share of each shared page. */
  pssKB: number;
  rssKB: number;
  /** Its private pages (Private_Clean + Private_Dirty): what exiting would free. */
  privateKB: number;
}

/** pid → parent pid of every process now (what /proc/<pid>/stat says; vanished ones left out). */
function parents(): Map<number, number> {
  const map = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      map.set(Number(name), ppid);
    } catch {
      // exited meanwhile
    }
  }
  return map;
}

/**
 * `root` and every descendant of it (children, their children, …) with its
 * PSS and RSS. The sum of PSS counts each page once however many of these
 * processes map it (PostgreSQL's shared buffers, the binaries), which a sum of
 * RSS would not. Reading another user's smaps_rollup needs root or the same
 * user; a process that exits meanwhile is left out.
 */
export function processTree(root: number): ProcessMemory[] {
  const ppids = parents();
  const tree = [root];
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, ppid] of ppids) if (ppid === tree[i]) tree.push(pid);
  }
  const out: ProcessMemory[] = [];
  for (const pid of tree) {
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      const kB = (field: string) =>
        Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? NaN);
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replaceAll('\0', ' ');
      out.push({
        pid,
        ppid: ppids.get(pid) ?? 0,
        command,
        pssKB: kB('Pss'),
        rssKB: kB('Rss'),
        privateKB: kB('Private_Clean') + kB('Private_Dirty'),
      });
    } catch (error) {
      if (pid === root) throw new Error(`cannot read the memory of pid ${pid}`, { cause: error });
    }
  }
  for (const p of out) {
    if (!Number.isFinite(p.pssKB)) throw new Error(`no Pss in /proc/${p.pid}/smaps_rollup`);
  }
  return out;
}

/** Kills what is still running (by pid: only the bench's own children). */
export function killAll(): void {
  for (const managed of running) managed.child.kill('SIGKILL');
}

/** Stops what is still running, politely. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((managed) => managed.stop()));
}

/** The last `bytes` of a file, as text ('' if it cannot be read). */
function tail(file: string, bytes: number): string {
  try {
    const size = statSync(file).size;
    const length = Math.min(size, bytes);
    const buffer = Buffer.alloc(length);
    const fd = openSync(file, 'r');
    try {
      readSync(fd, buffer, 0, length, size - length);
    } finally {
      closeSync(fd);
    }
    return buffer.toString('utf8');
  } catch {
    return '';
  }
}
