import { afterAll, beforeAll, vi } from 'vitest';

/**
 * Test files share their worker's modules (Vitest's `isolate: false`): a file
 * that faked the clock — `vi.useFakeTimers`, or `vi.setSystemTime` alone,
 * which replaces Date until `vi.useRealTimers` — must not hand it to the next
 * file, where tokens, sessions and keys would be stamped with a wrong time.
 * So every file ends on the real clock and its mocks undone, and every file
 * checks that it starts on it.
 */
beforeAll(() => {
  const skew = Date.now() - (performance.timeOrigin + performance.now());
  if (vi.isFakeTimers() || Math.abs(skew) > 2_000) {
    throw new Error(
      `this file starts on a faked clock (${Math.round(skew)} ms off): an earlier file left it`,
    );
  }
});

afterAll(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});
