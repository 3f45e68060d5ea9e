import type { BenchContext } from '../lib/context.js';
import { timeKinds } from '../lib/timing.js';

/**
 * signin-timing: unknown email, wrong password and right password signins,
 * one at a time, shuffled together. An unknown email and a wrong password
 * must cost the same (the service verifies a dummy hash for an unknown
 * email): the contract's "no measurable difference". The right password is
 * shown for scale (it also opens a session). The tests prove the equal work
 * structurally (test/auth/enumeration.test.ts); this measures what a client
 * would see.
 */
export async function signinTiming(ctx: BenchContext): Promise<void> {
  const account = (i: number) => ctx.warm[i % ctx.warm.length]!;
  await timeKinds(ctx, 'signin-timing', [
    {
      kind: 'unknown email',
      expected: 401,
      request: (i) => ({
        path: '/auth/signin',
        body: { email: `nobody-${i}@timing.example.com`, password: account(i).password },
      }),
    },
    {
      kind: 'wrong password',
      expected: 401,
      request: (i) => ({
        path: '/auth/signin',
        body: { email: account(i).email, password: `${account(i).password}x` },
      }),
    },
    {
      kind: 'right password',
      expected: 200,
      request: (i) => ({
        path: '/auth/signin',
        body: { email: account(i).email, password: account(i).password },
      }),
    },
  ]);
}
