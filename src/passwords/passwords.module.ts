import { type DynamicModule, Module } from '@nestjs/common';

import {
  PASSWORD_HASHER_OPTIONS,
  PasswordHasher,
  type PasswordHasherOptions,
} from './password-hasher.service.js';
import {
  PASSWORD_POLICY_OPTIONS,
  PasswordPolicy,
  type PasswordPolicyOptions,
} from './password-policy.service.js';

export interface PasswordsModuleOptions {
  minLength: number;
  maxLength: number;
  /** Maximum concurrent argon2 operations; PasswordHasher's default (2) when omitted. */
  hashConcurrency?: number;
}

/**
 * Provides PasswordHasher and PasswordPolicy. Each `forRoot()` import creates its own
 * PasswordHasher, and the concurrency cap is per instance: import it once and re-export
 * it where several modules need it.
 */
@Module({})
export class PasswordsModule {
  static forRoot(options: PasswordsModuleOptions): DynamicModule {
    const policyOptions: PasswordPolicyOptions = {
      minLength: options.minLength,
      maxLength: options.maxLength,
    };
    const hasherOptions: PasswordHasherOptions =
      options.hashConcurrency === undefined ? {} : { concurrency: options.hashConcurrency };
    return {
      module: PasswordsModule,
      global: false,
      providers: [
        { provide: PASSWORD_POLICY_OPTIONS, useValue: policyOptions },
        { provide: PASSWORD_HASHER_OPTIONS, useValue: hasherOptions },
        PasswordPolicy,
        PasswordHasher,
      ],
      exports: [PasswordPolicy, PasswordHasher],
    };
  }
}
