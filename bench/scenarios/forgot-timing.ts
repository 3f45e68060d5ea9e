import { randomBytes } from 'node:crypto';
import { expect, signup } from '../lib/api.js';
import type { BenchContext } from '../lib/context.js';
import { timeKinds } from '../lib/timing.js';

/**
 * forgot-timing: POST /auth/password/forgot for an unknown address, a
 * disabled account and an existing one, one at a time, shuffled together.
 * All three must answer alike — body, headers and time — or the route tells
 * who has an account. The service does the same work for each (a lookup, a
 * queued mail, an audit row; the mail worker later drops the mail of an
 * unknown or disabled address); test/auth/password-reset.test.ts proves the
 * same answer and the same work, this measures what a client would see.
 */
export async function forgotTiming(ctx: BenchContext): Promise<void> {
  const domain = ctx.admin.email.split('@')[1]!;
  const disabledEmail = `disabled-timing@${domain}`;
  const disabled = await signup(ctx.service.base, disabledEmail, randomBytes(18).toString('base64url'));
  await expect(200, ctx.service.base, 'PATCH', `/users/${disabled.userId}`, {
    token: ctx.admin.session.accessToken,
    body: { disabled: true },
  });
  const forgot = (email: string) => ({ path: '/auth/password/forgot', body: { email } });
  await timeKinds(ctx, 'forgot-timing', [
    { kind: 'unknown address', expected: 202, request: (i) => forgot(`nobody-${i}@timing.example.com`) },
    { kind: 'disabled account', expected: 202, request: () => forgot(disabledEmail) },
    { kind: 'existing account', expected: 202, request: (i) => forgot(ctx.warm[i % ctx.warm.length]!.email) },
  ]);
}
