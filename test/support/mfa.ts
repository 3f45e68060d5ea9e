import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, expect, vi } from 'vitest';
import { type AuthBody, GOOD_PASSWORD, type Http, type Reply } from './http.js';

const STEP_MS = 30_000;

/** The TOTP code of a base32 secret at a chosen time (RFC 6238 defaults: SHA-1, 6 digits, 30 s). */
export function totpAt(secret: string, timestampMs = Date.now()): string {
  return TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: timestampMs });
}

/**
 * Fakes `Date` for the suite (register before useTestApp, so that the app reads the same
 * clock): each code a test uses comes from a step of its own (nextStep), since a step is
 * accepted once per user.
 */
export function useFakeClock(): void {
  beforeAll(() => {
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
  });
  afterAll(() => {
    vi.useRealTimers();
  });
}

/** Moves the (faked) clock to 1 s into the next 30-second step; returns that time. */
export function nextStep(): number {
  const next = (Math.floor(Date.now() / STEP_MS) + 1) * STEP_MS + 1_000;
  vi.setSystemTime(next);
  return next;
}

export interface Enrolled {
  secret: string;
  otpauthUrl: string;
  recoveryCodes: string[];
}

/** Sets up TOTP for a signed-in user and confirms it (MFA on); asserts success. */
export async function enableMfa(
  http: Http,
  user: { accessToken: string; password?: string },
): Promise<Enrolled> {
  const enrol = await http.post('/auth/mfa/totp', {
    token: user.accessToken,
    body: { currentPassword: user.password ?? GOOD_PASSWORD },
  });
  expect(enrol.status, enrol.text).toBe(200);
  const { secret, otpauthUrl } = enrol.body as { secret: string; otpauthUrl: string };
  const confirm = await http.post('/auth/mfa/totp/confirm', {
    token: user.accessToken,
    body: { code: totpAt(secret, nextStep()) },
  });
  expect(confirm.status, confirm.text).toBe(200);
  return { secret, otpauthUrl, recoveryCodes: (confirm.body as { recoveryCodes: string[] }).recoveryCodes };
}

/** The password step of a user with MFA on: asserts the challenge shape; returns the mfaToken. */
export async function passwordStep(http: Http, email: string, password = GOOD_PASSWORD): Promise<string> {
  const reply = await http.post('/auth/signin', { body: { email, password } });
  expect(reply.status, reply.text).toBe(200);
  expect(reply.body).toEqual({
    mfaRequired: true,
    mfaToken: expect.any(String),
    methods: ['totp', 'recovery_code'],
  });
  return (reply.body as { mfaToken: string }).mfaToken;
}

/** POST /auth/signin/mfa. */
export function mfaStep(
  http: Http,
  mfaToken: string,
  factor: { code: string } | { recoveryCode: string },
): Promise<Reply> {
  return http.post('/auth/signin/mfa', { body: { mfaToken, ...factor } });
}

/** Both steps, with a code of the next time step; asserts success. */
export async function signinWithMfa(http: Http, email: string, secret: string): Promise<AuthBody> {
  const mfaToken = await passwordStep(http, email);
  const reply = await mfaStep(http, mfaToken, { code: totpAt(secret, nextStep()) });
  expect(reply.status, reply.text).toBe(200);
  return reply.body as AuthBody;
}
