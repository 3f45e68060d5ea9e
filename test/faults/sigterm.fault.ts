import { afterAll, describe, expect, it } from 'vitest';
import {
  type CallResult,
  Client,
  Load,
  outcome,
  PASSWORD,
  table,
  Tally,
  uniqueEmail,
  until,
} from '../support/load.js';
import { type Exit, freePort, killAll, ServiceProcess } from '../support/process.js';
import { faultDatabases } from '../support/fault-databases.js';

/** The README: "On SIGTERM the service stops accepting, finishes the requests in flight, closes the database and exits 0." */
const EXIT_WITHIN_MS = 10_000;
/** Requests kept in flight: each signin and signup holds ~50 ms of argon2 (two at a time), so several queue. */
const CONCURRENCY = 6;

const cleanups: (() => Promise<void>)[] = [];
const summary: (string | number)[][] = [
  [
    'database',
    'requests before SIGTERM',
    'in flight at SIGTERM',
    'their answers',
    'dropped',
    'exit',
    'SIGTERM → exit',
  ],
];

const variants = faultDatabases('sigterm');

/**
 * Fault 4: SIGTERM while requests are in flight (signins and signups, each
 * holding ~50 ms of argon2, and GET /users/me). Every request that started before
 * the signal must get a complete HTTP response — never a reset connection —
 * and the process must exit 0 within 10 s. Each request has a connection
 * of its own, so a dropped request cannot hide behind a client retry.
 */
describe('fault: SIGTERM under load', () => {
  afterAll(async () => {
    await killAll();
    for (const cleanup of cleanups) await cleanup().catch(() => {});
    console.log(`SIGTERM under load:\n${table(summary)}`);
  });

  for (const variant of variants) {
    it(`${variant.name}: finishes every request in flight and exits 0 within 10 s`, async (ctx) => {
      if (!variant.available()) {
        return ctx.skip('the shared PostgreSQL server (TEST_POSTGRES_URL) is not reachable');
      }
      const { env, cleanup } = await variant.prepare();
      cleanups.push(cleanup);
      const service = new ServiceProcess(await freePort(), {
        ...env,
        RATE_LIMIT_PER_MINUTE: '1000000',
        LOG_LEVEL: 'info',
      });
      await service.waitFor('/health/ready', 60_000);
      const client = new Client(service.baseUrl);
      // One account per loop: concurrent signins of one account and client would meet the
      // brute-force limit, which counts attempts in flight (SIGNIN_MAX_FAILURES).
      const users = await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          const email = uniqueEmail(`sigterm-${variant.name}`);
          const signup = await client.post('/auth/signup', { email, password: PASSWORD });
          expect(signup.status, outcome(signup)).toBe(201);
          return { email, token: signup.body.accessToken as string };
        }),
      );

      const results: (CallResult & { op: string })[] = [];
      const pending = new Set<{ op: string; startedAt: number }>();
      const load = new Load(
        CONCURRENCY,
        async (worker, iteration) => {
          const op = (['me', 'signup', 'signin', 'signin'] as const)[(worker + iteration) % 4]!;
          const marker = { op, startedAt: performance.now() };
          pending.add(marker);
          const result =
            op === 'me'
              ? await client.get('/users/me', users[worker]!.token)
              : op === 'signup'
                ? await client.post('/auth/signup', { email: uniqueEmail('sigterm-new'), password: PASSWORD })
                : await client.post('/auth/signin', { email: users[worker]!.email, password: PASSWORD });
          pending.delete(marker);
          results.push({ ...result, op });
        },
        0,
      );

      let sigtermAt: number;
      let exitMs: number;
      let exit: Exit;
      try {
        await until(() => results.length >= 30, 60_000, 'load before SIGTERM');
        // The moment of the signal: several requests are on the server, in argon2 or queued for it.
        await until(() => [...pending].filter((p) => p.op !== 'me').length >= 3, 10_000, 'signins in flight');
        sigtermAt = performance.now();
        service.child.kill('SIGTERM');
        const loadStopped = load.stop(); // nothing starts after the signal
        exit = await service.waitForExit(EXIT_WITHIN_MS + 5_000);
        exitMs = performance.now() - sigtermAt;
        await loadStopped;
      } finally {
        await load.stop();
      }

      const before = results.filter((r) => r.startedAt < sigtermAt);
      const inFlight = before.filter((r) => r.endedAt >= sigtermAt);
      const dropped = before.filter((r) => r.status === 0);
      const tally = new Tally();
      for (const result of inFlight) tally.add(result.op, outcome(result));
      console.log(
        `${variant.name}: ${before.length} requests started before SIGTERM, ${inFlight.length} of them in flight at the signal ` +
          `(written to the socket before it: ${inFlight.filter((r) => r.writtenAt !== undefined && r.writtenAt < sigtermAt).length}); ` +
          `dropped ${dropped.length}; exit ${JSON.stringify(exit)} ${Math.round(exitMs)} ms after SIGTERM\n` +
          tally.format('  answers to the requests in flight at SIGTERM:'),
      );
      summary.push([
        variant.name,
        before.length,
        inFlight.length,
        [...new Set(inFlight.map((r) => `${r.op} ${outcome(r)}`))].join(', '),
        dropped.length,
        JSON.stringify(exit),
        `${Math.round(exitMs)} ms`,
      ]);

      expect(inFlight.length).toBeGreaterThanOrEqual(3);
      expect(dropped.map((r) => `${r.op}: ${outcome(r)}`)).toEqual([]);
      // Complete answers: what the request asked for (the contract allows 503 only for an unreachable database).
      const wrong = before.filter((r) => outcome(r) !== (r.op === 'signup' ? '201' : '200'));
      expect(wrong.map((r) => `${r.op}: ${outcome(r)}`)).toEqual([]);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(exitMs).toBeLessThan(EXIT_WITHIN_MS);
      expect(service.stderr).toBe('');
    }, 180_000);
  }
});
