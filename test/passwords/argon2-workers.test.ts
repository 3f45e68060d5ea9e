import { readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { verify } from '@node-rs/argon2';
import { afterAll, describe, expect, it } from 'vitest';
import { HASHING_NICE } from '../../src/passwords/argon2-workers.js';
import { PasswordHasher } from '../../src/passwords/password-hasher.service.js';

/** The nice value the kernel reports for one thread of this process (field 19 of its stat). */
function threadNice(threadId: number): number {
  const stat = readFileSync(`/proc/self/task/${threadId}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[16]);
}

describe('argon2 on low-priority worker threads', () => {
  const hasher = new PasswordHasher({ concurrency: 2, memoryCost: 1024, timeCost: 1 });
  afterAll(() => hasher.onApplicationShutdown());

  it('hashes and verifies off the main thread, interoperably with the library on it', async () => {
    const [a, b] = await Promise.all([hasher.hash('first password'), hasher.hash('second password')]);
    expect(a).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$/);
    expect(await verify(a, 'first password')).toBe(true);
    expect(await hasher.verify(b, 'second password')).toBe(true);
    expect(await hasher.verify(b, 'first password')).toBe(false);
    expect(await hasher.verify('not a hash', 'first password')).toBe(false);
    expect((await hasher.hashingThreads()).length).toBe(2);
  });

  it.runIf(process.platform === 'linux')(
    'runs the hashing threads at nice +10 and leaves the main thread at its priority',
    async () => {
      await Promise.all([hasher.hash('one'), hasher.hash('two')]);
      const threads = await hasher.hashingThreads();
      expect(threads).toHaveLength(2);
      for (const { threadId, nice } of threads) {
        expect(nice).toBe(HASHING_NICE);
        expect(threadNice(threadId!)).toBe(HASHING_NICE);
      }
      expect(getPriority()).toBe(0);
    },
  );

  it('keeps a failed call from taking a thread out of service', async () => {
    // More calls than threads, several failing: every one settles, and the pool still works.
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => hasher.verify(i % 2 ? '$argon2id$v=19$broken' : 'x', 'password')),
    );
    expect(results).toEqual([false, false, false, false, false, false]);
    expect(await hasher.verify(await hasher.hash('still works'), 'still works')).toBe(true);
  });
});
