import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryCounterStore } from '../../src/throttling/counter-store.js';
import {
  FailoverCounterStore,
  RETRY_SHARED_AFTER_MS,
  type SharedCounterStore,
} from '../../src/throttling/failover-counter-store.js';

/** A shared store that can be switched off (disconnected, or failing while "connected"). */
class FakeShared extends MemoryCounterStore implements SharedCounterStore {
  connected = true;
  failing = false;
  calls = 0;
  override async hit(key: string, windowMs: number) {
    this.calls += 1;
    if (this.failing) throw new Error('Command timed out');
    return super.hit(key, windowMs);
  }
}

describe('FailoverCounterStore', () => {
  let now: number;
  let shared: FakeShared;
  let memory: MemoryCounterStore;
  let logs: { level: string; message: string }[];
  let store: FailoverCounterStore;

  beforeEach(() => {
    now = 0;
    shared = new FakeShared();
    memory = new MemoryCounterStore();
    logs = [];
    store = new FailoverCounterStore(
      shared,
      memory,
      {
        warn: (message) => logs.push({ level: 'warn', message }),
        log: (message) => logs.push({ level: 'info', message }),
      },
      () => now,
    );
  });

  it('uses the shared store while it answers', async () => {
    await store.hit('k', 60_000);
    await store.hit('k', 60_000);
    expect((await shared.hit('k', 60_000)).count).toBe(3);
    expect(memory.size).toBe(0);
    expect(store.usingShared).toBe(true);
    expect(logs).toEqual([]);
  });

  it('falls back to memory while disconnected, says so once, and goes back when it is connected again', async () => {
    await store.hit('k', 60_000); // shared: 1
    shared.connected = false;
    for (let i = 0; i < 5; i++) {
      expect((await store.hit('k', 60_000)).count).toBe(i + 1); // memory
      now += RETRY_SHARED_AFTER_MS; // each call retries the shared store
    }
    expect(store.usingShared).toBe(false);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({
      level: 'warn',
      message: expect.stringMatching(/in memory.*per instance/),
    });

    shared.connected = true;
    expect((await store.hit('k', 60_000)).count).toBe(2); // shared again: its count went on
    expect(store.usingShared).toBe(true);
    expect(logs).toHaveLength(2);
    expect(logs[1]).toMatchObject({ level: 'info', message: expect.stringMatching(/shared again/) });
  });

  it('falls back when a call fails, and leaves the shared store alone for a moment before retrying', async () => {
    shared.failing = true;
    expect((await store.hit('k', 60_000)).count).toBe(1); // failed on shared, answered from memory
    expect(shared.calls).toBe(1);
    expect((await store.hit('k', 60_000)).count).toBe(2);
    expect(shared.calls).toBe(1); // not retried yet
    now += RETRY_SHARED_AFTER_MS;
    shared.failing = false;
    expect((await store.hit('k', 60_000)).count).toBe(1); // retried: shared answers
    expect(shared.calls).toBe(2);
    expect(logs.map((line) => line.level)).toEqual(['warn', 'info']);
  });

  it('uses the shared store as soon as it is connected again (no waiting after a disconnection)', async () => {
    shared.connected = false;
    await store.hit('k', 60_000);
    await store.hit('k', 60_000);
    shared.connected = true;
    expect((await store.hit('k', 60_000)).count).toBe(1);
    expect(shared.calls).toBe(1);
  });

  it('starts a second outage with a second warning', async () => {
    shared.connected = false;
    await store.hit('k', 60_000);
    shared.connected = true;
    now += RETRY_SHARED_AFTER_MS;
    await store.hit('k', 60_000);
    shared.connected = false;
    now += RETRY_SHARED_AFTER_MS;
    await store.hit('k', 60_000);
    expect(logs.map((line) => line.level)).toEqual(['warn', 'info', 'warn']);
  });

  it('without a shared store, uses memory and logs nothing', async () => {
    const local = new FailoverCounterStore(null, memory, { warn: () => {}, log: () => {} });
    expect((await local.hit('k', 60_000)).count).toBe(1);
    expect((await local.hit('k', 60_000)).count).toBe(2);
    expect(local.usingShared).toBe(false);
  });
});
