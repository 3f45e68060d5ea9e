import { connect, type Socket } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { ClientGoneError, PasswordHasher } from '../../src/passwords/password-hasher.service.js';
import { ApiError } from '../../src/common/errors/api-error.js';
import { expectError, GOOD_PASSWORD, uniqueEmail } from '../support/http.js';
import { call, until } from '../support/load.js';
import { useTestApp } from '../support/test-app.js';
import { NO_THROTTLE } from '../support/tokens.js';

// Cheap parameters for the unit tests: what is tested is the queue, not argon2.
const CHEAP = { memoryCost: 1024, timeCost: 1 } as const;

/** A signin sent on a raw connection that is kept open until the test closes it. */
function rawSignin(port: number, email: string): Promise<Socket> {
  const payload = JSON.stringify({ email, password: 'a wrong password, or no account' });
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.resume();
  return new Promise((resolve) => {
    socket.once('connect', () => {
      socket.write(
        `POST /auth/signin HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`,
      );
      resolve(socket);
    });
  });
}

const closed = (socket: Socket) =>
  new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));

describe('PasswordHasher: a bounded queue, and work dropped for clients that left', () => {
  it('refuses an operation beyond maxQueued at once: 503 unavailable with Retry-After', async () => {
    const hasher = new PasswordHasher({ ...CHEAP, concurrency: 1, maxQueued: 2 });
    try {
      const accepted = [hasher.hash('one'), hasher.hash('two'), hasher.hash('three')];
      expect([hasher.inFlight, hasher.queued]).toEqual([1, 2]);
      const refused = await hasher.hash('four').catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(ApiError);
      expect((refused as ApiError).getStatus()).toBe(503);
      expect((refused as ApiError).code).toBe('unavailable');
      expect(Number((refused as ApiError).headers?.['Retry-After'])).toBeGreaterThanOrEqual(1);
      expect(hasher.rejected).toBe(1);
      await Promise.all(accepted);
      expect(hasher.operationsStarted).toBe(3);
      // Room again once the queue has drained.
      await expect(hasher.verifyDummy('x')).resolves.toBe(false);
    } finally {
      await hasher.onApplicationShutdown();
    }
  });

  it('drops a queued operation whose request closed, before it is hashed; a started one finishes', async () => {
    const hasher = new PasswordHasher({ ...CHEAP, concurrency: 1 });
    try {
      const running = new AbortController();
      const waiting = Array.from({ length: 5 }, () => new AbortController());
      const first = hasher.hash('first', running.signal);
      const rest = waiting.map((controller, i) =>
        hasher.hash(`queued ${i}`, controller.signal).catch((error: unknown) => error),
      );
      expect(hasher.queued).toBe(5);
      running.abort();
      for (const controller of waiting.slice(0, 4)) controller.abort();
      expect(hasher.queued).toBe(1); // dropped from the queue at once
      await expect(first).resolves.toMatch(/^\$argon2id\$/);
      const results = await Promise.all(rest);
      for (const result of results.slice(0, 4)) expect(result).toBeInstanceOf(ClientGoneError);
      expect(results[4]).toMatch(/^\$argon2id\$/);
      expect(hasher.operationsStarted).toBe(2);
      expect(hasher.dropped).toBe(4);
      // Already closed: not even queued.
      const gone = AbortSignal.abort();
      await expect(hasher.verify(String(results[4]), 'queued 4', gone)).rejects.toBeInstanceOf(
        ClientGoneError,
      );
      expect(hasher.operationsStarted).toBe(2);
    } finally {
      await hasher.onApplicationShutdown();
    }
  });
});

/**
 * A hash whose parameters make one verification take a second or two on an idle core (t=8000):
 * verifying it keeps a hashing thread busy, so that the signins of a test all wait in the queue.
 * On a busy machine it takes far longer (the hashing threads run at nice +10, behind everything
 * else), which only lengthens the wait; the tests' bounds allow for minutes. Its salt and digest
 * are arbitrary: the answer is false, after the work.
 */
const SLOW_HASH =
  '$argon2id$v=19$m=1024,t=8000,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';

describe('signins whose clients left cost no hashing (real sockets)', () => {
  const { t, http } = useTestApp({ ...NO_THROTTLE, PASSWORD_HASH_QUEUE: '1000' });
  let hasher: PasswordHasher;
  let port: number;
  let baseUrl: string;

  beforeAll(async () => {
    hasher = t.app.get(PasswordHasher);
    await t.app.listen(0, '127.0.0.1');
    port = (t.app.getHttpServer().address() as { port: number }).port;
    baseUrl = `http://127.0.0.1:${port}`;
  });

  const idle = () => until(() => hasher.inFlight === 0 && hasher.queued === 0, 480_000, 'hasher idle');

  /** Occupies every hashing thread for a few seconds; `busy` resolves when they are free again. */
  async function occupyThreads(): Promise<{ busy: Promise<unknown> }> {
    await idle();
    const busy = Promise.all(Array.from({ length: hasher.concurrency }, () => hasher.verify(SLOW_HASH, 'x')));
    expect(hasher.inFlight).toBe(hasher.concurrency);
    return { busy };
  }

  it(
    '60 queued signins whose sockets close at once are not hashed; a real user signs in right after',
    { timeout: 600_000 },
    async () => {
      const user = await http.signup();
      const N = 60;
      const { busy } = await occupyThreads();
      const startedBefore = hasher.operationsStarted;

      const sockets = await Promise.all(
        Array.from({ length: N }, () => rawSignin(port, uniqueEmail('flood'))),
      );
      // Every signin has reached the hasher (the threads are busy: they wait in its queue).
      await until(
        () => hasher.queued + (hasher.operationsStarted - startedBefore) >= N,
        300_000,
        'all signins queued',
      );
      const startedAtClose = hasher.operationsStarted;

      // The attacker closes every connection at once; a real user signs in.
      for (const socket of sockets) socket.destroy();
      await Promise.all(sockets.map(closed));
      const reply = await call(baseUrl, 'POST', '/auth/signin', {
        body: { email: user.email, password: GOOD_PASSWORD },
        timeoutMs: 480_000,
      });
      expect(reply.status, JSON.stringify(reply.body)).toBe(200);
      const startedForUser = hasher.operationsStarted - startedAtClose;
      await busy;
      await idle();

      // Once the flood has left, the real user's verification is the next to start (allowing a
      // thread or two that freed up before the closes were read), and nothing more is hashed for
      // the requests that left. Without the drop: every queued one, before the user's.
      expect(startedForUser, 'hashes started after the close, the real signin included').toBeLessThanOrEqual(
        1 + hasher.concurrency,
      );
      expect(
        hasher.operationsStarted - startedAtClose,
        'hashes performed after the close',
      ).toBeLessThanOrEqual(1 + hasher.concurrency);
      expect(startedAtClose - startedBefore, 'the threads were busy: the flood waited').toBeLessThan(N / 2);
    },
  );

  it(
    'signins whose sockets close right after sending are not hashed either',
    { timeout: 600_000 },
    async () => {
      const user = await http.signup();
      const N = 60;
      const { busy } = await occupyThreads();
      const startedBefore = hasher.operationsStarted;
      const droppedBefore = hasher.dropped ?? 0;

      const sockets = await Promise.all(
        Array.from({ length: N }, () => rawSignin(port, uniqueEmail('hit-and-run'))),
      );
      for (const socket of sockets) socket.end();
      await Promise.all(sockets.map(closed));
      const reply = await call(baseUrl, 'POST', '/auth/signin', {
        body: { email: user.email, password: GOOD_PASSWORD },
        timeoutMs: 480_000,
      });
      expect(reply.status, JSON.stringify(reply.body)).toBe(200);
      await busy;
      await idle();
      const performed = hasher.operationsStarted - startedBefore - 1; // the real signin's
      expect(performed, 'hashes performed for closed requests').toBeLessThanOrEqual(hasher.concurrency);
      expect((hasher.dropped ?? 0) - droppedBefore).toBeGreaterThanOrEqual(N - hasher.concurrency);
    },
  );
});

describe('a full hashing queue answers 503 with Retry-After', () => {
  const { t, http } = useTestApp({
    RATE_LIMIT_PER_MINUTE: '1000000',
    SIGNIN_MAX_FAILURES: '1',
    PASSWORD_HASH_QUEUE: '3',
  });
  let hasher: PasswordHasher;

  beforeAll(async () => {
    hasher = t.app.get(PasswordHasher);
  });

  /**
   * Keeps the hasher's queue full until stopped: each filler that ends queues another one in
   * the same microtask run, before any request can reach the hasher.
   */
  function keepFull(): () => Promise<void> {
    let stopped = false;
    const loops: Promise<void>[] = [];
    const loop = async (): Promise<void> => {
      while (!stopped) await hasher.hash('filler').catch(() => {});
    };
    for (let i = 0; i < hasher.concurrency + hasher.maxQueued; i++) loops.push(loop());
    return async () => {
      stopped = true;
      await Promise.all(loops);
    };
  }

  it('signin, signup and password change are refused in the contract shape; nothing counted as a failure', async () => {
    const user = await http.signup();
    expect(hasher.maxQueued).toBe(3);
    const stop = keepFull();
    let replies;
    try {
      expect(hasher.queued).toBe(3);
      replies = {
        signin: await http.post('/auth/signin', {
          body: { email: user.email, password: 'wrong password here' },
        }),
        signup: await http.post('/auth/signup', { body: { email: uniqueEmail(), password: GOOD_PASSWORD } }),
        password: await http.post('/auth/password', {
          token: user.accessToken,
          body: { currentPassword: 'wrong password here', newPassword: 'another good password 123' },
        }),
      };
    } finally {
      await stop();
    }
    for (const [name, reply] of Object.entries(replies)) {
      expectError(reply, 503, 'unavailable');
      expect(Object.keys(reply.body).sort(), name).toEqual(['code', 'error', 'message', 'statusCode']);
      expect(reply.body.error).toBe('Service Unavailable');
      const retryAfter = Number(reply.headers['retry-after']);
      expect(Number.isInteger(retryAfter) && retryAfter >= 1, `${name} Retry-After`).toBe(true);
    }
    expect(hasher.rejected).toBeGreaterThanOrEqual(3);

    // The refused attempts were not failures (SIGNIN_MAX_FAILURES is 1): the right password works.
    await http.signin(user.email, GOOD_PASSWORD);

    const metrics = await http.get('/metrics');
    const line = String(metrics.text)
      .split('\n')
      .find((l) => l.startsWith('gatehouse_password_hash_rejected_total'));
    expect(Number(line?.split(' ').pop())).toBeGreaterThanOrEqual(3);
  });
});
