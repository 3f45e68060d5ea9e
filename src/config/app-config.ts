import { join, resolve } from 'node:path';
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
    /** `iss` of access tokens: JWT_ISSUER, or PUBLIC_URL (the metadata's `issuer` either way). */
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
  /** Requests a minute per client address to /oauth/introspect and /oauth/revocations (OAUTH_RATE_LIMIT_PER_MINUTE). */
  oauthRateLimitPerMinute: number;
  trustProxy: string[];
  corsOrigins: string[];
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  metricsToken?: string;
  keyEncryptionSecret?: string;
  /** EMAIL_VERIFICATION: whether signup sends a verification mail (not `off`), and signin needs it (`required`). */
  emailVerification: 'off' | 'optional' | 'required';
  /** Lifetimes of the links sent by mail, in seconds. */
  linkTtl: { emailVerification: number; passwordReset: number; emailChange: number };
  mail: {
    /** SMTP_URL; unset: every mail is written as an .eml file into `dir`. */
    smtpUrl?: string;
    /** The From header (MAIL_FROM). */
    from: string;
    /** DATA_DIR/mail: where mail goes without SMTP_URL. */
    dir: string;
    /** Mails to one address an hour, beyond which requests send nothing (MAIL_PER_ADDRESS_PER_HOUR). */
    perAddressPerHour: number;
    /** Delivery attempts before a mail is marked failed (MAIL_MAX_ATTEMPTS). */
    maxAttempts: number;
    /** Seconds before the first retry; each later one waits twice as long, up to an hour (MAIL_RETRY_DELAY). */
    retryDelay: number;
    /** Seconds one delivery may take; a claimed mail is another instance's to retry after twice this (MAIL_SEND_TIMEOUT). */
    sendTimeout: number;
  };
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
  const publicUrl = (env.PUBLIC_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, '');
  const dataDir = resolve(env.DATA_DIR);
  return {
    host: env.HOST,
    port: env.PORT,
    publicUrl,
    database: {
      url: env.DATABASE_URL,
      poolSize: env.DATABASE_POOL_SIZE,
      dataDir,
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
      issuer: env.JWT_ISSUER ?? publicUrl,
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
    oauthRateLimitPerMinute: env.OAUTH_RATE_LIMIT_PER_MINUTE,
    trustProxy: env.TRUST_PROXY,
    corsOrigins: env.CORS_ORIGINS,
    logLevel: env.LOG_LEVEL,
    metricsToken: env.METRICS_TOKEN,
    keyEncryptionSecret: env.KEY_ENCRYPTION_SECRET,
    emailVerification: env.EMAIL_VERIFICATION,
    linkTtl: {
      emailVerification: env.EMAIL_VERIFICATION_TTL,
      passwordReset: env.PASSWORD_RESET_TTL,
      emailChange: env.EMAIL_CHANGE_TTL,
    },
    mail: {
      smtpUrl: env.SMTP_URL,
      from: env.MAIL_FROM ?? `Gatehouse <no-reply@${new URL(publicUrl).hostname}>`,
      dir: join(dataDir, 'mail'),
      perAddressPerHour: env.MAIL_PER_ADDRESS_PER_HOUR,
      maxAttempts: env.MAIL_MAX_ATTEMPTS,
      retryDelay: env.MAIL_RETRY_DELAY,
      sendTimeout: env.MAIL_SEND_TIMEOUT,
    },
  };
}
