import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** Nice value of the hashing threads: request handling (nice 0) always goes first. */
export const HASHING_NICE = 10;

/**
 * Runs in each worker thread (CommonJS, evaluated from this string so that the
 * same code works from src/ in the tests and from dist/). It lowers its own
 * thread's CPU priority — on Linux, setpriority() with a thread id applies to
 * that thread only — then answers one argon2 call per message, synchronously:
 * the thread has nothing else to do.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { readlinkSync } = require('node:fs');
const { setPriority, getPriority } = require('node:os');
const argon2 = require(workerData.argon2);
let threadId = null;
let nice = null;
try {
  threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
  setPriority(threadId, workerData.nice);
  nice = getPriority(threadId);
} catch {
  // Not Linux, or not allowed: the thread keeps the process's priority.
}
parentPort.postMessage({ ready: true, threadId, nice });
parentPort.on('message', ({ op, args }) => {
  try {
    const result = op === 'hash' ? argon2.hashSync(args[0], args[1]) : argon2.verifySync(args[0], args[1]);
    parentPort.postMessage({ result });
  } catch (error) {
    parentPort.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
});
`;

type Reply = { result: string | boolean } | { error: string };

/** One worker thread; runs one call at a time (the caller guarantees it). */
class HashingThread {
  private readonly worker: Worker;
  private readonly started: Promise<{ threadId: number | null; nice: number | null }>;
  private pending: { resolve: (value: string | boolean) => void; reject: (error: Error) => void } | undefined;
  busy = false;

  constructor(argon2Path: string) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { argon2: argon2Path, nice: HASHING_NICE },
    });
    // Idle workers must not keep the process alive.
    this.worker.unref();
    this.started = new Promise((resolve, reject) => {
      this.worker.once('message', resolve);
      this.worker.once('error', reject);
    });
    this.started.catch(() => {});
    this.worker.on('error', (error) => this.settle({ error: error.message }));
    this.worker.on('exit', () => this.settle({ error: 'argon2 worker exited' }));
  }

  info(): Promise<{ threadId: number | null; nice: number | null }> {
    return this.started;
  }

  async run(op: 'hash' | 'verify', args: unknown[]): Promise<string | boolean> {
    await this.started;
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.once('message', (reply: Reply) => this.settle(reply));
      this.worker.postMessage({ op, args });
    });
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }

  private settle(reply: Reply): void {
    const pending = this.pending;
    this.pending = undefined;
    if (!pending) return;
    if ('error' in reply) pending.reject(new Error(reply.error));
    else pending.resolve(reply.result);
  }
}

/**
 * argon2 on dedicated worker threads at a lower CPU priority, instead of on
 * libuv's pool: a burst of signins then uses the CPU that request handling
 * leaves, rather than competing with it (on two cores, two hashes at equal
 * priority took the event loop's p99 from a few ms to hundreds), and it can
 * never fill the pool that fs, dns and crypto jobs share.
 *
 * At most `size` calls may run at once: the caller queues (PasswordHasher's
 * FIFO limiter), the pool only picks an idle thread. Threads start on first use.
 */
export class Argon2Workers {
  private readonly threads: HashingThread[] = [];
  private readonly argon2Path = createRequire(import.meta.url).resolve('@node-rs/argon2');

  constructor(private readonly size: number) {}

  async run<T extends string | boolean>(op: 'hash' | 'verify', args: unknown[]): Promise<T> {
    let thread = this.threads.find((candidate) => !candidate.busy);
    if (!thread) {
      if (this.threads.length >= this.size) throw new Error('Argon2Workers: more calls than threads');
      thread = new HashingThread(this.argon2Path);
      this.threads.push(thread);
    }
    thread.busy = true;
    try {
      return (await thread.run(op, args)) as T;
    } catch (error) {
      // A thread that failed outside argon2 (it exited) is replaced next time.
      if ((error as Error).message === 'argon2 worker exited')
        this.threads.splice(this.threads.indexOf(thread), 1);
      throw error;
    } finally {
      thread.busy = false;
    }
  }

  /** Thread ids and nice values of the started threads (Linux; null elsewhere). */
  threadInfo(): Promise<{ threadId: number | null; nice: number | null }[]> {
    return Promise.all(this.threads.map((thread) => thread.info()));
  }

  async close(): Promise<void> {
    const threads = this.threads.splice(0);
    await Promise.all(threads.map((thread) => thread.terminate()));
  }
}
