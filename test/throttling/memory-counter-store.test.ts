import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryCounterStore } from '../../src/throttling/counter-store.js';

describe('MemoryCounterStore', () => {
  let now: number;
  let store: MemoryCounterStore;
  beforeEach(() => {
    now = 1_000_000;
    store = new MemoryCounterStore({ now: () => now });
  });

  describe('hit (fixed window)', () => {
    it('counts hits in a window that starts at the first one, then starts again', async () => {
      expect(await store.hit('a', 60_000)).toEqual({ count: 1, resetMs: 60_000 });
      now += 10_000;
      expect(await store.hit('a', 60_000)).toEqual({ count: 2, resetMs: 50_000 });
      now += 49_999;
      expect(await store.hit('a', 60_000)).toEqual({ count: 3, resetMs: 1 });
      now += 1;
      expect(await store.hit('a', 60_000)).toEqual({ count: 1, resetMs: 60_000 });
    });

    it('keeps keys apart', async () => {
      await store.hit('a', 60_000);
      await store.hit('a', 60_000);
      expect((await store.hit('b', 60_000)).count).toBe(1);
    });
  });

  describe('reserve (sliding window)', () => {
    it('allows max entries within the window, then says when one ages out', async () => {
      for (let i = 0; i < 3; i++) {
        expect(await store.reserve('k', `id${i}`, 900_000, 3)).toEqual({ reserved: true });
        now += 1_000;
      }
      // Entries at 0 s, 1 s, 2 s; now 3 s: the first leaves the window at 900 s.
      expect(await store.reserve('k', 'id3', 900_000, 3)).toEqual({ reserved: false, retryMs: 897_000 });
      now += 897_000 - 1;
      expect((await store.reserve('k', 'id4', 900_000, 3)).reserved).toBe(false);
      now += 1;
      expect(await store.reserve('k', 'id5', 900_000, 3)).toEqual({ reserved: true });
      // Now full again; the next to leave is the one made at 1 s.
      expect(await store.reserve('k', 'id6', 900_000, 3)).toEqual({ reserved: false, retryMs: 1_000 });
    });

    it('release gives one place back; clear gives all back', async () => {
      await store.reserve('k', 'a', 60_000, 2);
      await store.reserve('k', 'b', 60_000, 2);
      expect((await store.reserve('k', 'c', 60_000, 2)).reserved).toBe(false);
      await store.release('k', 'b');
      expect((await store.reserve('k', 'c', 60_000, 2)).reserved).toBe(true);
      expect((await store.reserve('k', 'd', 60_000, 2)).reserved).toBe(false);
      await store.clear('k');
      expect((await store.reserve('k', 'd', 60_000, 2)).reserved).toBe(true);
    });

    it('keeps keys apart', async () => {
      await store.reserve('k', 'a', 60_000, 1);
      expect((await store.reserve('k', 'b', 60_000, 1)).reserved).toBe(false);
      expect((await store.reserve('other', 'b', 60_000, 1)).reserved).toBe(true);
    });
  });

  it('is bounded: beyond maxKeys the least recently used keys are dropped', async () => {
    const small = new MemoryCounterStore({ maxKeys: 3, now: () => now });
    for (let i = 0; i < 10; i++) await small.hit(`key${i}`, 60_000);
    for (let i = 0; i < 10; i++) await small.reserve(`key${i}`, 'x', 60_000, 5);
    expect(small.size).toBe(6);
    expect((await small.hit('key9', 60_000)).count).toBe(2); // recent: kept
    expect((await small.hit('key0', 60_000)).count).toBe(1); // oldest: dropped
  });
});
