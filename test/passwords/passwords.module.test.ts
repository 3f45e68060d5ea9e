import { NestFactory } from '@nestjs/core';
import { describe, expect, it } from 'vitest';

import { PasswordHasher } from '../../src/passwords/password-hasher.service.js';
import { PasswordPolicy } from '../../src/passwords/password-policy.service.js';
import { PasswordsModule } from '../../src/passwords/passwords.module.js';

async function resolve(options: Parameters<typeof PasswordsModule.forRoot>[0]) {
  const app = await NestFactory.createApplicationContext(PasswordsModule.forRoot(options), { logger: false });
  try {
    return { policy: app.get(PasswordPolicy), hasher: app.get(PasswordHasher) };
  } finally {
    await app.close();
  }
}

describe('PasswordsModule.forRoot', () => {
  it('is a non-global dynamic module exporting both services', () => {
    const mod = PasswordsModule.forRoot({ minLength: 8, maxLength: 128 });
    expect(mod.module).toBe(PasswordsModule);
    expect(mod.global).toBe(false);
    expect(mod.exports).toEqual(expect.arrayContaining([PasswordHasher, PasswordPolicy]));
  });

  it('passes the options to the services through Nest DI', async () => {
    const { policy, hasher } = await resolve({ minLength: 10, maxLength: 20, hashConcurrency: 3 });
    expect(policy).toBeInstanceOf(PasswordPolicy);
    expect([policy.minLength, policy.maxLength]).toEqual([10, 20]);
    expect(policy.check('x7#kQ2pZx')).toBe('must be at least 10 characters');
    expect(hasher).toBeInstanceOf(PasswordHasher);
    expect(hasher.concurrency).toBe(3);
  });

  it('uses the hasher default concurrency when hashConcurrency is omitted', async () => {
    const { hasher } = await resolve({ minLength: 8, maxLength: 128 });
    expect(hasher.concurrency).toBe(2);
    expect(hasher.needsRehash('$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g')).toBe(false);
  });
});
