import { resolve } from 'node:path';
import type { z } from 'zod';
import type { JwtAlg } from './jwt-alg.js';
import { envSchema, type RawEnv } from './config.schema.js';

/** The typed configuration every module receives; built once from the environment. */
export interface AppConfig {
  host: string;
  port: number;
  /** The service's public base URL, no trailing slash: links in mail, cookies, `servers` (PUBLIC_URL). */
  publicUrl: string;
  database: { url?: string; poolSize: number; dataDir: string; timeouts: DatabaseTimeouts };
  redisUrl?: string;
  /** Namespace of every key in Redis (deployments sharing one Redis use different ones). */
  redisKeyPrefix: string;
  jwt: {
    alg: JwtAlg;
    issuer: string;
    audience: string;
    accessTokenTtl: number;
    jwksMaxAge: number;
    /** Verified access tokens kept per process (0: verify every request). */
    verifiedTokenCacheSize: number;
  };
  session: {
    idleTimeout: number;
    maxAge: number;
    reuseGrace: number;
    /** Live sessions a user may have; a signin beyond it ends the least recently used one. */
    maxPerUser: number;
    /** Seconds a cached session and user state is served before it is read again (0: never cached). */
    cacheTtl: number;
  };
  /** How long audit events are kept (seconds); the retention job deletes older ones. */
  auditRetention: number;
  password: {
    minLength: number;
    maxLength: number;
    /** Password hashes that may wait for a hashing thread; beyond, 503 (PASSWORD_HASH_QUEUE). */
    hashQueue: number;
  };
  admin?: { email: string; password: string };
  signin: { maxFailures: number; failureWindow: number };
  /** The issuer an authenticator app shows for Gatehouse's TOTP entries (MFA_ISSUER). */
  mfa: { issuer: string };
  rateLimitPerMinute: number;
  trustProxy: string[];
  corsOrigins: string[];
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  metricsToken?: string;
  keyEncryptionSecret?: string;
}

/**
 * Bounds on a request's time in the database, in seconds: one statement
 * (DATABASE_STATEMENT_TIMEOUT), one wait for a lock (DATABASE_LOCK_TIMEOUT),
 * getting a pooled connection (DATABASE_ACQUIRE_TIMEOUT).
 */
export interface DatabaseTimeouts {
  statement: number;
  lock: number;
  acquire: number;
}

/** Thrown when the environment is invalid; its message names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(
      'Invalid configuration:\n' +
        problems.map((problem) => `  ${problem.variable}: ${problem.message}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: RawEnv = process.env): AppConfig {
  // An empty variable (`FOO=`) means "not set", as in most shells' intent.
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({
        variable: String(issue.path[0] ?? 'environment'),
        message: issue.message,
      })),
    );
  }
  return toAppConfig(parsed.data);
}

function toAppConfig(env: z.output<typeof envSchema>): AppConfig {
  return {
    host: env.HOST,
    port: env.PORT,
    publicUrl: (env.PUBLIC_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, ''),
    database: {
      url: env.DATABASE_URL,
      poolSize: env.DATABASE_POOL_SIZE,
      dataDir: resolve(env.DATA_DIR),
      timeouts: {
        statement: env.DATABASE_STATEMENT_TIMEOUT,
        lock: env.DATABASE_LOCK_TIMEOUT,
        acquire: env.DATABASE_ACQUIRE_TIMEOUT,
      },
    },
    redisUrl: env.REDIS_URL,
    redisKeyPrefix: env.REDIS_KEY_PREFIX,
    jwt: {
      alg: env.JWT_ALG,
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
      accessTokenTtl: env.ACCESS_TOKEN_TTL,
      jwksMaxAge: env.JWKS_MAX_AGE,
      verifiedTokenCacheSize: env.ACCESS_TOKEN_CACHE_SIZE,
    },
    session: {
      idleTimeout: env.SESSION_IDLE_TIMEOUT,
      maxAge: env.SESSION_MAX_AGE,
      reuseGrace: env.REFRESH_REUSE_GRACE,
      maxPerUser: env.MAX_SESSIONS_PER_USER,
      cacheTtl: env.SESSION_CACHE_TTL,
    },
    auditRetention: env.AUDIT_RETENTION,
    password: { minLength: env.PASSWORD_MIN_LENGTH, maxLength: 128, hashQueue: env.PASSWORD_HASH_QUEUE },
    admin:
      env.ADMIN_EMAIL && env.ADMIN_PASSWORD
        ? { email: env.ADMIN_EMAIL, password: env.ADMIN_PASSWORD }
        : undefined,
    signin: { maxFailures: env.SIGNIN_MAX_FAILURES, failureWindow: env.SIGNIN_FAILURE_WINDOW },
    mfa: { issuer: env.MFA_ISSUER },
    rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE,
    trustProxy: env.TRUST_PROXY,
    corsOrigins: env.CORS_ORIGINS,
    logLevel: env.LOG_LEVEL,
    metricsToken: env.METRICS_TOKEN,
    keyEncryptionSecret: env.KEY_ENCRYPTION_SECRET,
  };
}
