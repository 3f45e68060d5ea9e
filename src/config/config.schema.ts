import { isIP } from 'node:net';
import { z } from 'zod';
import { JWT_ALGS } from './jwt-alg.js';
import { parseDuration } from './duration.js';

/** A duration variable: `900`, `15m`, `7d`; parsed to whole seconds. */
const duration = (fallback: string, min = 1, max = Infinity) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const seconds = parseDuration(text);
      if (seconds === null || seconds < min || seconds > max) {
        const range = max === Infinity ? `at least ${min}s` : `${min}s to ${max}s`;
        ctx.addIssue({
          code: 'custom',
          message: `expected a duration such as 900, 15m or 7d (${range}), got "${text}"`,
        });
        return z.NEVER;
      }
      return seconds;
    });

const integer = (fallback: number, min: number, max: number) =>
  z
    .string()
    .default(String(fallback))
    .transform((text, ctx) => {
      const value = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
      if (!Number.isSafeInteger(value) || value < min || value > max) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a whole number from ${min} to ${max}, got "${text}"`,
        });
        return z.NEVER;
      }
      return value;
    });

const optionalText = z
  .string()
  .optional()
  .transform((text) => (text === undefined || text.trim() === '' ? undefined : text));

/** Comma-separated list; empty entries dropped. */
const list = z
  .string()
  .default('')
  .transform((text) =>
    text
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean),
  );

/** An IP address or a CIDR range (v4 or v6). */
function isAddressOrCidr(entry: string): boolean {
  const [address, prefix, ...rest] = entry.split('/');
  if (rest.length > 0 || !address) return false;
  const version = isIP(address);
  if (version === 0) return false;
  if (prefix === undefined) return true;
  const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
  return bits >= 0 && bits <= (version === 4 ? 32 : 128);
}

/** The service's public base URL: http(s), a host, maybe a path prefix; no query, fragment or credentials. */
function isPublicUrl(entry: string): boolean {
  try {
    const url = new URL(entry);
    return (
      (url.protocol === 'http:' || url.protocol === 'https:') &&
      !url.search &&
      !url.hash &&
      !url.username &&
      !url.password &&
      !entry.includes('?') &&
      !entry.includes('#')
    );
  } catch {
    return false;
  }
}

/**
 * MAIL_FROM: `address@host` or `Name <address@host>`, on one line (it becomes a
 * header). Only its shape is checked; the SMTP server decides what it accepts.
 */
function isMailFrom(entry: string): boolean {
  if (/[\r\n]/.test(entry) || entry.length > 320) return false;
  const address = /^(?:[^<>]*<([^<>\s]+)>|([^<>\s]+))$/.exec(entry.trim());
  const bare = address?.[1] ?? address?.[2];
  return bare !== undefined && /^[^@\s]+@[^@\s]+$/.test(bare);
}

/** A browser origin: scheme://host[:port], nothing more. */
function isOrigin(entry: string): boolean {
  try {
    const url = new URL(entry);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === entry;
  } catch {
    return false;
  }
}

/** Bounds on a request's time in the database, in seconds (DATABASE_*_TIMEOUT's defaults). */
export const DEFAULT_DATABASE_TIMEOUTS = { statement: 5, lock: 2, acquire: 2 } as const;

/**
 * Every environment variable Gatehouse reads, with its default. The raw
 * environment goes in; a typed, validated configuration comes out.
 */
export const envSchema = z
  .object({
    NODE_ENV: z.string().optional(),
    HOST: z.string().min(1).default('0.0.0.0'),
    PORT: integer(3000, 0, 65_535),
    DATABASE_URL: optionalText.pipe(
      z
        .string()
        .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// or postgresql:// URL')
        .optional(),
    ),
    DATABASE_POOL_SIZE: integer(10, 1, 1000),
    DATABASE_STATEMENT_TIMEOUT: duration(`${DEFAULT_DATABASE_TIMEOUTS.statement}s`),
    DATABASE_LOCK_TIMEOUT: duration(`${DEFAULT_DATABASE_TIMEOUTS.lock}s`),
    DATABASE_ACQUIRE_TIMEOUT: duration(`${DEFAULT_DATABASE_TIMEOUTS.acquire}s`),
    DATA_DIR: z.string().min(1).default('./data'),
    PUBLIC_URL: optionalText.pipe(
      z
        .string()
        .refine(
          isPublicUrl,
          'expected an http:// or https:// URL such as https://auth.example.com (no query or fragment)',
        )
        .optional(),
    ),
    REDIS_URL: optionalText.pipe(
      z
        .string()
        .regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL')
        .optional(),
    ),
    REDIS_KEY_PREFIX: z
      .string()
      .regex(/^[\w:.-]{1,64}$/, 'expected 1–64 characters of letters, digits, _ : . -')
      .default('gatehouse:'),
    JWT_ALG: z.enum(JWT_ALGS, { message: `expected one of ${JWT_ALGS.join(', ')}` }).default('ES256'),
    // Unset: PUBLIC_URL (see app-config.ts), so that verifiers find the keys and metadata from `iss`.
    JWT_ISSUER: z.string().min(1).optional(),
    JWT_AUDIENCE: z.string().min(1).default('gatehouse'),
    JWKS_MAX_AGE: duration('5m'),
    ACCESS_TOKEN_TTL: duration('15m', 10),
    ACCESS_TOKEN_CACHE_SIZE: integer(10_000, 0, 10_000_000),
    SESSION_IDLE_TIMEOUT: duration('7d', 60),
    SESSION_MAX_AGE: duration('30d', 60),
    REFRESH_REUSE_GRACE: duration('10s', 0),
    // Bounds how long a missed notification can keep a revoked session alive on an instance.
    SESSION_CACHE_TTL: duration('2s', 0, 60),
    MAX_SESSIONS_PER_USER: integer(100, 1, 100_000),
    AUDIT_RETENTION: duration('400d', 86_400),
    PASSWORD_MIN_LENGTH: integer(8, 8, 128),
    PASSWORD_HASH_QUEUE: integer(64, 0, 100_000),
    ADMIN_EMAIL: optionalText,
    ADMIN_PASSWORD: optionalText,
    MFA_ISSUER: z
      .string()
      .regex(/^[^:]{1,64}$/, 'expected 1–64 characters without ":"')
      .default('Gatehouse'),
    SIGNIN_MAX_FAILURES: integer(5, 1, 1000),
    SIGNIN_FAILURE_WINDOW: duration('15m'),
    RATE_LIMIT_PER_MINUTE: integer(100, 1, 1_000_000),
    OAUTH_RATE_LIMIT_PER_MINUTE: integer(6000, 1, 10_000_000),
    TRUST_PROXY: list.refine((entries) => entries.every(isAddressOrCidr), {
      message: 'expected a comma-separated list of IP addresses or CIDR ranges',
    }),
    CORS_ORIGINS: list.refine((entries) => entries.every(isOrigin), {
      message:
        'expected a comma-separated list of origins such as https://app.example.com (scheme, host, port; no path)',
    }),
    LOG_LEVEL: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
        message: 'expected one of fatal, error, warn, info, debug, trace, silent',
      })
      .default('info'),
    METRICS_TOKEN: optionalText,
    // Its value may hold a password: messages never repeat it.
    SMTP_URL: optionalText.pipe(
      z
        .string()
        .regex(/^smtps?:\/\/[^/?#]+/, 'expected an smtp:// or smtps:// URL such as smtp://user:pass@host:587')
        .optional(),
    ),
    MAIL_FROM: optionalText.pipe(
      z
        .string()
        .refine(
          isMailFrom,
          'expected an address such as no-reply@example.com or "Name <no-reply@example.com>"',
        )
        .optional(),
    ),
    EMAIL_VERIFICATION: z
      .enum(['off', 'optional', 'required'], { message: 'expected one of off, optional, required' })
      .default('optional'),
    EMAIL_VERIFICATION_TTL: duration('24h', 60),
    PASSWORD_RESET_TTL: duration('30m', 60),
    EMAIL_CHANGE_TTL: duration('1h', 60),
    MAIL_PER_ADDRESS_PER_HOUR: integer(5, 1, 1000),
    MAIL_MAX_ATTEMPTS: integer(10, 1, 100),
    MAIL_RETRY_DELAY: duration('30s'),
    MAIL_SEND_TIMEOUT: duration('30s'),
    KEY_ENCRYPTION_SECRET: optionalText.pipe(
      z.string().min(32, 'expected at least 32 characters of secret').optional(),
    ),
  })
  .superRefine((env, ctx) => {
    if (env.DATABASE_URL && !env.KEY_ENCRYPTION_SECRET) {
      ctx.addIssue({
        code: 'custom',
        path: ['KEY_ENCRYPTION_SECRET'],
        message: 'required when DATABASE_URL is set (at least 32 characters; it encrypts the signing keys)',
      });
    }
    if (Boolean(env.ADMIN_EMAIL) !== Boolean(env.ADMIN_PASSWORD)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.ADMIN_EMAIL ? 'ADMIN_PASSWORD' : 'ADMIN_EMAIL'],
        message: 'ADMIN_EMAIL and ADMIN_PASSWORD go together: set both or neither',
      });
    }
    if (env.SESSION_IDLE_TIMEOUT > env.SESSION_MAX_AGE) {
      ctx.addIssue({
        code: 'custom',
        path: ['SESSION_IDLE_TIMEOUT'],
        message: 'must not be longer than SESSION_MAX_AGE',
      });
    }
  });

export type RawEnv = Record<string, string | undefined>;
