import { isAbsolute, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/app-config.js';
import type { RawEnv } from '../../src/config/config.schema.js';
import { parseDuration } from '../../src/config/duration.js';

const SECRET = 'k'.repeat(32);

/** The ConfigError `loadConfig(env)` throws; fails the test when it does not throw one. */
function configError(env: RawEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected loadConfig(${JSON.stringify(env)}) to throw a ConfigError`);
}

/** The variables a ConfigError names. */
const named = (error: ConfigError) => error.problems.map((problem) => problem.variable);

describe('loadConfig defaults', () => {
  const config = loadConfig({});

  it('uses the contract defaults with an empty environment', () => {
    expect(config.port).toBe(3000);
    expect(config.jwt.alg).toBe('ES256');
    expect(config.jwt.accessTokenTtl).toBe(900);
    expect(config.session.idleTimeout).toBe(7 * 86_400);
    expect(config.session.maxAge).toBe(30 * 86_400);
    expect(config.session.reuseGrace).toBe(10);
    expect(config.session.cacheTtl).toBe(2);
    expect(config.signin).toEqual({ maxFailures: 5, failureWindow: 900 });
    expect(config.rateLimitPerMinute).toBe(100);
    expect(config.password.minLength).toBe(8);
    expect(config.password.maxLength).toBe(128);
    expect(config.logLevel).toBe('info');
    expect(config.trustProxy).toEqual([]);
    expect(config.corsOrigins).toEqual([]);
    expect(config.admin).toBeUndefined();
    expect(config.database.url).toBeUndefined();
    expect(config.database.timeouts).toEqual({ statement: 5, lock: 2, acquire: 2 });
    expect(config.redisUrl).toBeUndefined();
    expect(config.keyEncryptionSecret).toBeUndefined();
    expect(config.metricsToken).toBeUndefined();
    expect(config.mfa).toEqual({ issuer: 'Gatehouse' });
  });

  it('resolves DATA_DIR to an absolute path, ./data by default', () => {
    expect(config.database.dataDir).toBe(resolve('./data'));
    expect(isAbsolute(config.database.dataDir)).toBe(true);
    const relative = loadConfig({ DATA_DIR: 'some/dir' }).database.dataDir;
    expect(relative).toBe(resolve('some/dir'));
    expect(isAbsolute(relative)).toBe(true);
  });

  it('does not read process.env when given an environment', () => {
    const saved = process.env.PORT;
    process.env.PORT = '4321';
    try {
      expect(loadConfig({}).port).toBe(3000);
    } finally {
      if (saved === undefined) delete process.env.PORT;
      else process.env.PORT = saved;
    }
  });

  it('treats an empty variable as unset', () => {
    const empty = loadConfig({
      PORT: '',
      JWT_ALG: '',
      ACCESS_TOKEN_TTL: '',
      LOG_LEVEL: '',
      DATABASE_URL: '',
      REDIS_URL: '',
      TRUST_PROXY: '',
      ADMIN_EMAIL: '',
      ADMIN_PASSWORD: '',
      KEY_ENCRYPTION_SECRET: '',
      METRICS_TOKEN: '',
      DATA_DIR: '',
    });
    expect(empty).toEqual(config);
  });
});

describe('durations', () => {
  it.each([
    ['900', 900],
    ['15m', 900],
    ['7d', 604_800],
    ['30s', 30],
    ['2h', 7200],
  ])('parses %s as %i seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
    expect(loadConfig({ ACCESS_TOKEN_TTL: text }).jwt.accessTokenTtl).toBe(seconds);
  });

  it.each(['abc', '-5', '1.5m', '15 minutes', '15x', 'm', '1e3', '0x10'])(
    'rejects %j, naming the variable and what is expected',
    (text) => {
      expect(parseDuration(text)).toBeNull();
      const error = configError({ ACCESS_TOKEN_TTL: text });
      expect(named(error)).toEqual(['ACCESS_TOKEN_TTL']);
      expect(error.message).toContain('ACCESS_TOKEN_TTL');
      expect(error.problems[0]!.message).toMatch(/duration/);
    },
  );

  it('rejects 0 where a minimum applies', () => {
    expect(named(configError({ ACCESS_TOKEN_TTL: '0' }))).toEqual(['ACCESS_TOKEN_TTL']);
    expect(named(configError({ SESSION_IDLE_TIMEOUT: '0' }))).toEqual(['SESSION_IDLE_TIMEOUT']);
    expect(named(configError({ SIGNIN_FAILURE_WINDOW: '0' }))).toEqual(['SIGNIN_FAILURE_WINDOW']);
  });

  it('accepts 0 for REFRESH_REUSE_GRACE (no grace at all)', () => {
    expect(loadConfig({ REFRESH_REUSE_GRACE: '0' }).session.reuseGrace).toBe(0);
  });

  it('accepts 0 (no caching) to 60 s for SESSION_CACHE_TTL, and nothing longer', () => {
    expect(loadConfig({ SESSION_CACHE_TTL: '0' }).session.cacheTtl).toBe(0);
    expect(loadConfig({ SESSION_CACHE_TTL: '1m' }).session.cacheTtl).toBe(60);
    const error = configError({ SESSION_CACHE_TTL: '61' });
    expect(named(error)).toEqual(['SESSION_CACHE_TTL']);
    expect(error.problems[0]!.message).toMatch(/0s to 60s/);
  });

  it('takes the database bounds as durations', () => {
    const config = loadConfig({
      DATABASE_STATEMENT_TIMEOUT: '30s',
      DATABASE_LOCK_TIMEOUT: '1',
      DATABASE_ACQUIRE_TIMEOUT: '1m',
    });
    expect(config.database.timeouts).toEqual({ statement: 30, lock: 1, acquire: 60 });
  });

  it('refuses an idle timeout longer than the maximum session age', () => {
    const error = configError({ SESSION_IDLE_TIMEOUT: '31d', SESSION_MAX_AGE: '30d' });
    expect(named(error)).toEqual(['SESSION_IDLE_TIMEOUT']);
  });
});

describe('invalid values', () => {
  // One bad value per variable the configuration validates (a valid secret
  // alongside, since DATABASE_URL demands one).
  it.each<[string, string]>([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['DATABASE_URL', 'mysql://localhost/db'],
    ['DATABASE_POOL_SIZE', '0'],
    ['DATABASE_STATEMENT_TIMEOUT', '0'],
    ['DATABASE_LOCK_TIMEOUT', '500ms'],
    ['DATABASE_ACQUIRE_TIMEOUT', 'never'],
    ['REDIS_URL', 'http://localhost:6379'],
    ['JWT_ALG', 'HS256'],
    ['JWKS_MAX_AGE', 'soon'],
    ['ACCESS_TOKEN_TTL', '5'],
    ['SESSION_IDLE_TIMEOUT', '1.5h'],
    ['SESSION_MAX_AGE', 'forever'],
    ['REFRESH_REUSE_GRACE', '-5'],
    ['SESSION_CACHE_TTL', '1h'],
    ['PASSWORD_MIN_LENGTH', '4'],
    ['PASSWORD_MIN_LENGTH', '129'],
    ['SIGNIN_MAX_FAILURES', '0'],
    ['SIGNIN_FAILURE_WINDOW', '15 minutes'],
    ['RATE_LIMIT_PER_MINUTE', 'lots'],
    ['TRUST_PROXY', 'foo'],
    ['LOG_LEVEL', 'verbose'],
    ['KEY_ENCRYPTION_SECRET', 'short'],
    ['SMTP_URL', 'http://mail.example.com'],
    ['SMTP_URL', 'mail.example.com:587'],
    ['MAIL_FROM', 'not an address'],
    ['MAIL_FROM', 'a@b.example\r\nBcc: victim@example.com'],
    ['EMAIL_VERIFICATION', 'sometimes'],
    ['EMAIL_VERIFICATION_TTL', '30s'],
    ['PASSWORD_RESET_TTL', 'never'],
    ['EMAIL_CHANGE_TTL', '0'],
    ['MAIL_PER_ADDRESS_PER_HOUR', '0'],
    ['MAIL_MAX_ATTEMPTS', '0'],
    ['MAIL_RETRY_DELAY', '0'],
    ['MAIL_SEND_TIMEOUT', 'long'],
  ])('%s=%j is refused, naming the variable', (variable, value) => {
    const error = configError({ KEY_ENCRYPTION_SECRET: SECRET, [variable]: value });
    expect(named(error)).toEqual([variable]);
    expect(error.message).toContain(`${variable}: `);
    expect(error.problems[0]!.message.length).toBeGreaterThan(5);
  });

  it('reports every bad variable at once', () => {
    const error = configError({
      PORT: 'abc',
      JWT_ALG: 'none',
      ACCESS_TOKEN_TTL: '15 minutes',
      LOG_LEVEL: 'loud',
      TRUST_PROXY: '10.0.0.0/33',
    });
    expect(named(error).sort()).toEqual(['ACCESS_TOKEN_TTL', 'JWT_ALG', 'LOG_LEVEL', 'PORT', 'TRUST_PROXY']);
    for (const variable of named(error)) expect(error.message).toContain(variable);
  });

  it('never echoes a secret it refuses', () => {
    const error = configError({ KEY_ENCRYPTION_SECRET: 'tooShortSecret!' });
    expect(error.message).not.toContain('tooShortSecret!');
    expect(configError({ SMTP_URL: 'http://user:smtpSecret@host' }).message).not.toContain('smtpSecret');
  });
});

describe('secrets and pairs', () => {
  it('requires KEY_ENCRYPTION_SECRET with DATABASE_URL', () => {
    const error = configError({ DATABASE_URL: 'postgres://localhost/gatehouse' });
    expect(named(error)).toEqual(['KEY_ENCRYPTION_SECRET']);
    expect(error.message).toContain('KEY_ENCRYPTION_SECRET');

    const config = loadConfig({
      DATABASE_URL: 'postgresql://localhost/gatehouse',
      KEY_ENCRYPTION_SECRET: SECRET,
    });
    expect(config.database.url).toBe('postgresql://localhost/gatehouse');
    expect(config.keyEncryptionSecret).toBe(SECRET);
  });

  it('refuses a KEY_ENCRYPTION_SECRET shorter than 32 characters', () => {
    expect(named(configError({ KEY_ENCRYPTION_SECRET: 'k'.repeat(31) }))).toEqual(['KEY_ENCRYPTION_SECRET']);
    expect(
      named(configError({ DATABASE_URL: 'postgres://db/gatehouse', KEY_ENCRYPTION_SECRET: 'k'.repeat(31) })),
    ).toEqual(['KEY_ENCRYPTION_SECRET']);
    expect(loadConfig({ KEY_ENCRYPTION_SECRET: SECRET }).keyEncryptionSecret).toBe(SECRET);
  });

  it('wants ADMIN_EMAIL and ADMIN_PASSWORD together', () => {
    expect(named(configError({ ADMIN_EMAIL: 'admin@example.com' }))).toEqual(['ADMIN_PASSWORD']);
    expect(named(configError({ ADMIN_PASSWORD: 'correct horse battery staple' }))).toEqual(['ADMIN_EMAIL']);
    expect(
      loadConfig({ ADMIN_EMAIL: 'admin@example.com', ADMIN_PASSWORD: 'correct horse battery staple' }).admin,
    ).toEqual({ email: 'admin@example.com', password: 'correct horse battery staple' });
  });
});

describe('TRUST_PROXY', () => {
  it('accepts addresses and CIDR ranges, v4 and v6, comma-separated', () => {
    expect(loadConfig({ TRUST_PROXY: '10.0.0.1, 192.168.0.0/16, ::1, fd00::/8' }).trustProxy).toEqual([
      '10.0.0.1',
      '192.168.0.0/16',
      '::1',
      'fd00::/8',
    ]);
  });

  it.each(['10.0.0.0/33', 'foo', '10.0.0.1, foo', '::1/129', '10.0.0.0/', '10.0.0.0/8/8', '300.1.1.1'])(
    'refuses %j',
    (value) => {
      expect(named(configError({ TRUST_PROXY: value }))).toEqual(['TRUST_PROXY']);
    },
  );
});

describe('JWT_ALG', () => {
  it.each(['ES256', 'EdDSA', 'RS256'] as const)('accepts %s', (alg) => {
    expect(loadConfig({ JWT_ALG: alg }).jwt.alg).toBe(alg);
  });

  it.each(['HS256', 'none', 'es256', 'RS512'])('refuses %s', (alg) => {
    const error = configError({ JWT_ALG: alg });
    expect(named(error)).toEqual(['JWT_ALG']);
    expect(error.message).toMatch(/ES256.*EdDSA.*RS256/);
  });
});

describe('LOG_LEVEL', () => {
  it.each(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const)('accepts %s', (level) => {
    expect(loadConfig({ LOG_LEVEL: level }).logLevel).toBe(level);
  });

  it.each(['verbose', 'INFO', 'warning'])('refuses %s', (level) => {
    expect(named(configError({ LOG_LEVEL: level }))).toEqual(['LOG_LEVEL']);
  });
});

describe('CORS_ORIGINS', () => {
  it('accepts a comma-separated list of origins', () => {
    expect(
      loadConfig({ CORS_ORIGINS: 'https://app.example.com, http://localhost:5173' }).corsOrigins,
    ).toEqual(['https://app.example.com', 'http://localhost:5173']);
  });

  // A browser's Origin header is always scheme://host[:port]: an entry of another
  // form can never match, so CORS silently stays off for it.
  it.each(['app.example.com', 'not a url', 'https://app.example.com/path'])('refuses %j', (value) => {
    expect(named(configError({ CORS_ORIGINS: value }))).toEqual(['CORS_ORIGINS']);
  });
});

describe('JWT_ISSUER', () => {
  it('defaults to PUBLIC_URL (a URL verifiers can find the keys from)', () => {
    expect(loadConfig({}).jwt.issuer).toBe('http://localhost:3000');
    expect(loadConfig({ PUBLIC_URL: 'https://auth.example.com/' }).jwt.issuer).toBe(
      'https://auth.example.com',
    );
    expect(loadConfig({ PUBLIC_URL: 'https://example.com/auth' }).jwt.issuer).toBe(
      'https://example.com/auth',
    );
  });

  it('is taken as set (an earlier default, `gatehouse`, can be kept)', () => {
    expect(loadConfig({ JWT_ISSUER: 'gatehouse', PUBLIC_URL: 'https://a.example' }).jwt.issuer).toBe(
      'gatehouse',
    );
  });
});

describe('mail', () => {
  it('defaults: .eml files in DATA_DIR/mail, verification optional, the contract lifetimes and limit', () => {
    const config = loadConfig({ DATA_DIR: '/srv/gatehouse' });
    expect(config.mail).toEqual({
      smtpUrl: undefined,
      from: 'Gatehouse <no-reply@localhost>',
      dir: '/srv/gatehouse/mail',
      perAddressPerHour: 5,
      maxAttempts: 10,
      retryDelay: 30,
      sendTimeout: 30,
    });
    expect(config.emailVerification).toBe('optional');
    expect(config.linkTtl).toEqual({ emailVerification: 86_400, passwordReset: 1800, emailChange: 3600 });
  });

  it('takes SMTP_URL, MAIL_FROM and the rest as given; the sender defaults to PUBLIC_URL’s host', () => {
    const config = loadConfig({
      SMTP_URL: 'smtps://user:pass@smtp.example.com:465',
      MAIL_FROM: 'Acme <accounts@acme.test>',
      EMAIL_VERIFICATION: 'required',
      PASSWORD_RESET_TTL: '15m',
    });
    expect(config.mail).toMatchObject({
      smtpUrl: 'smtps://user:pass@smtp.example.com:465',
      from: 'Acme <accounts@acme.test>',
    });
    expect(config.emailVerification).toBe('required');
    expect(config.linkTtl.passwordReset).toBe(900);
    expect(loadConfig({ PUBLIC_URL: 'https://auth.example.com' }).mail.from).toBe(
      'Gatehouse <no-reply@auth.example.com>',
    );
    expect(loadConfig({ MAIL_FROM: 'no-reply@example.com' }).mail.from).toBe('no-reply@example.com');
  });
});

describe('PUBLIC_URL', () => {
  it('defaults to http://localhost:$PORT', () => {
    expect(loadConfig({}).publicUrl).toBe('http://localhost:3000');
    expect(loadConfig({ PORT: '8080' }).publicUrl).toBe('http://localhost:8080');
  });

  it('keeps a path prefix and drops a trailing slash', () => {
    expect(loadConfig({ PUBLIC_URL: 'https://auth.example.com/' }).publicUrl).toBe(
      'https://auth.example.com',
    );
    expect(loadConfig({ PUBLIC_URL: 'https://example.com/auth/' }).publicUrl).toBe(
      'https://example.com/auth',
    );
  });

  // Links in mail are built from it: a query, fragment or credentials would ride into every link.
  it.each([
    'auth.example.com',
    'ftp://auth.example.com',
    'https://auth.example.com/?next=x',
    'https://auth.example.com/#x',
    'https://user:pass@auth.example.com',
    'javascript:alert(1)',
  ])('refuses %j', (value) => {
    expect(named(configError({ PUBLIC_URL: value }))).toEqual(['PUBLIC_URL']);
  });
});

describe('MFA_ISSUER', () => {
  it('names the issuer authenticator apps show; no colon (it separates issuer and account in the label)', () => {
    expect(loadConfig({ MFA_ISSUER: 'Acme Auth' }).mfa.issuer).toBe('Acme Auth');
    expect(named(configError({ MFA_ISSUER: 'Acme: Auth' }))).toEqual(['MFA_ISSUER']);
    expect(named(configError({ MFA_ISSUER: 'x'.repeat(65) }))).toEqual(['MFA_ISSUER']);
  });
});
