import { describe, expect, it } from 'vitest';

import { PasswordHasher } from '../../src/passwords/password-hasher.service.js';

// Cheap parameters for tests that do not check the production ones.
const CHEAP = { memoryCost: 4096, timeCost: 1 } as const;

describe('PasswordHasher', () => {
  describe('with the default (OWASP) parameters', () => {
    const hasher = new PasswordHasher();

    it('produces an argon2id v19 PHC string with m=19456,t=2,p=1', async () => {
      const hash = await hasher.hash('correct horse battery staple');
      expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
    });

    it('salts: the same password hashes differently each time', async () => {
      const [a, b] = await Promise.all([hasher.hash('same password'), hasher.hash('same password')]);
      expect(a).not.toBe(b);
    });

    it('verifies the right password and rejects a wrong one', async () => {
      const hash = await hasher.hash('correct horse battery staple');
      await expect(hasher.verify(hash, 'correct horse battery staple')).resolves.toBe(true);
      await expect(hasher.verify(hash, 'correct horse battery stapl')).resolves.toBe(false);
      await expect(hasher.verify(hash, 'Correct horse battery staple')).resolves.toBe(false);
    });

    it('keeps passwords exactly as given (spaces and Unicode form matter)', async () => {
      const hash = await hasher.hash(' pässword ');
      await expect(hasher.verify(hash, ' pässword ')).resolves.toBe(true);
      await expect(hasher.verify(hash, 'pässword')).resolves.toBe(false);
      // NFD form of the same visible text is a different password.
      await expect(hasher.verify(hash, ' pässword '.normalize('NFD'))).resolves.toBe(false);
    });

    it.each([
      ['empty string', ''],
      ['not a PHC string', 'not-a-hash'],
      ['bcrypt hash', '$2b$10$abcdefghijklmnopqrstuuQ2cZ1y7o0b6eZ9c9pQ3m0xw8o5O1i2G'],
      ['broken salt', '$argon2id$v=19$m=19456,t=2,p=1$!!!$AAAA'],
      ['missing parameters', '$argon2id$v=19$$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNo'],
    ])('resolves false (does not throw) for a malformed hash: %s', async (_label, malformed) => {
      await expect(hasher.verify(malformed, 'password')).resolves.toBe(false);
    });

    it('resolves false for a truncated real hash', async () => {
      const hash = await hasher.hash('hunter2hunter2');
      await expect(hasher.verify(hash.slice(0, -5), 'hunter2hunter2')).resolves.toBe(false);
    });

    it('needsRehash is false for a hash made with the current parameters', async () => {
      expect(hasher.needsRehash(await hasher.hash('some password'))).toBe(false);
    });

    it('verifyDummy resolves false, also for the password it might have used', async () => {
      await expect(hasher.verifyDummy('anything at all')).resolves.toBe(false);
      await expect(hasher.verifyDummy('')).resolves.toBe(false);
    });

    it('verifyDummy costs one argon2 verification, after a dummy hash computed once', async () => {
      const fresh = new PasswordHasher({ concurrency: 1 });
      // Concurrent first calls share one lazily computed dummy hash: 1 hash + 2 verifications.
      await expect(Promise.all([fresh.verifyDummy('a'), fresh.verifyDummy('b')])).resolves.toEqual([
        false,
        false,
      ]);
      expect(fresh.operationsStarted).toBe(3);
      expect(fresh.maxObservedInFlight).toBe(1);
      // Later calls: exactly one verification each.
      await fresh.verifyDummy('c');
      expect(fresh.operationsStarted).toBe(4);
      expect(fresh.inFlight).toBe(0);
    });
  });

  describe('needsRehash', () => {
    const current = new PasswordHasher();
    const phc = (head: string) =>
      `${head}$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g`;

    it('is true for a hash made with cheaper parameters, and verify still accepts it', async () => {
      const old = new PasswordHasher(CHEAP);
      const oldHash = await old.hash('upgrade me please');
      expect(oldHash).toContain('$m=4096,t=1,p=1$');
      expect(current.needsRehash(oldHash)).toBe(true);
      expect(old.needsRehash(oldHash)).toBe(false);
      // Verification uses the parameters stored in the hash, so old users can still sign in.
      await expect(current.verify(oldHash, 'upgrade me please')).resolves.toBe(true);

      const upgraded = await current.hash('upgrade me please');
      expect(current.needsRehash(upgraded)).toBe(false);
      expect(old.needsRehash(upgraded)).toBe(true);
    });

    it('accepts the current parameters written out by hand', () => {
      expect(current.needsRehash(phc('$argon2id$v=19$m=19456,t=2,p=1'))).toBe(false);
    });

    it.each([
      ['argon2i', '$argon2i$v=19$m=19456,t=2,p=1'],
      ['argon2d', '$argon2d$v=19$m=19456,t=2,p=1'],
      ['version 16', '$argon2id$v=16$m=19456,t=2,p=1'],
      ['no version (argon2 1.0)', '$argon2id$m=19456,t=2,p=1'],
      ['smaller m', '$argon2id$v=19$m=4096,t=2,p=1'],
      ['larger m', '$argon2id$v=19$m=65536,t=2,p=1'],
      ['other t', '$argon2id$v=19$m=19456,t=3,p=1'],
      ['other p', '$argon2id$v=19$m=19456,t=2,p=2'],
      ['missing p', '$argon2id$v=19$m=19456,t=2'],
    ])('is true for %s', (_label, head) => {
      expect(current.needsRehash(phc(head))).toBe(true);
    });

    it.each(['', 'garbage', '$argon2id$v=19$m=19456,t=2,p=1', '$argon2id$v=19$m=19456,t=2,p=1$salt'])(
      'is true for a string that is not a PHC hash: %j',
      (value) => {
        expect(current.needsRehash(value)).toBe(true);
      },
    );
  });

  describe('concurrency cap', () => {
    it('runs at most `concurrency` operations at once; the rest queue', async () => {
      const hasher = new PasswordHasher({ ...CHEAP, concurrency: 2 });
      const hash = await hasher.hash('queue test');
      expect(hasher.maxObservedInFlight).toBe(1);

      const results = Array.from({ length: 6 }, (_, i) =>
        hasher.verify(hash, i % 2 === 0 ? 'queue test' : 'wrong'),
      );
      // Slots are taken synchronously: two running, four waiting.
      expect(hasher.inFlight).toBe(2);
      expect(hasher.queued).toBe(4);

      await expect(Promise.all(results)).resolves.toEqual([true, false, true, false, true, false]);
      expect(hasher.maxObservedInFlight).toBe(2);
      expect(hasher.inFlight).toBe(0);
      expect(hasher.queued).toBe(0);
    });

    it('counts hash and verify against the same cap', async () => {
      const hasher = new PasswordHasher({ ...CHEAP, concurrency: 2 });
      const hash = await hasher.hash('mixed');
      const work = [
        hasher.hash('a'),
        hasher.verify(hash, 'mixed'),
        hasher.hash('b'),
        hasher.verify(hash, 'x'),
      ];
      expect(hasher.inFlight).toBe(2);
      expect(hasher.queued).toBe(2);
      await Promise.all(work);
      expect(hasher.maxObservedInFlight).toBe(2);
    });

    it('starts waiting operations in FIFO order', async () => {
      const hasher = new PasswordHasher({ ...CHEAP, concurrency: 1 });
      const hash = await hasher.hash('fifo');
      const finished: number[] = [];
      await Promise.all(
        Array.from({ length: 5 }, (_, i) => hasher.verify(hash, 'fifo').then(() => finished.push(i))),
      );
      expect(finished).toEqual([0, 1, 2, 3, 4]);
      expect(hasher.maxObservedInFlight).toBe(1);
    });

    it('frees the slot when an operation fails (malformed hash)', async () => {
      const hasher = new PasswordHasher({ ...CHEAP, concurrency: 1 });
      const results = await Promise.all([hasher.verify('bad', 'x'), hasher.verify('also bad', 'y')]);
      expect(results).toEqual([false, false]);
      expect(hasher.inFlight).toBe(0);
      await expect(hasher.verify(await hasher.hash('after'), 'after')).resolves.toBe(true);
    });

    it('defaults to 2', () => {
      expect(new PasswordHasher().concurrency).toBe(2);
      expect(new PasswordHasher({}).concurrency).toBe(2);
    });

    it.each([0, -1, 1.5, Number.NaN])('rejects concurrency %s', (concurrency) => {
      expect(() => new PasswordHasher({ concurrency })).toThrow(RangeError);
    });
  });
});
