import { type DynamicModule, Module } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';

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
  /** Operations that may wait for a thread; PasswordHasher's default (64) when omitted. */
  hashQueue?: number;
}

/**
 * Provides PasswordHasher and PasswordPolicy, with the configuration's options.
 * Imported as is, it is one module instance, so the app has one hasher and one
 * concurrency cap however many modules import it. `forRoot()` builds a separate
 * instance with explicit options (tests, tools): its providers replace these.
 */
@Module({
  providers: [
    {
      provide: PASSWORD_POLICY_OPTIONS,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): PasswordPolicyOptions => ({
        minLength: config.password.minLength,
        maxLength: config.password.maxLength,
      }),
    },
    {
      provide: PASSWORD_HASHER_OPTIONS,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): PasswordHasherOptions => ({ maxQueued: config.password.hashQueue }),
    },
    PasswordPolicy,
    PasswordHasher,
  ],
  exports: [PasswordPolicy, PasswordHasher],
})
export class PasswordsModule {
  static forRoot(options: PasswordsModuleOptions): DynamicModule {
    const policyOptions: PasswordPolicyOptions = {
      minLength: options.minLength,
      maxLength: options.maxLength,
    };
    const hasherOptions: PasswordHasherOptions = {
      ...(options.hashConcurrency === undefined ? {} : { concurrency: options.hashConcurrency }),
      ...(options.hashQueue === undefined ? {} : { maxQueued: options.hashQueue }),
    };
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
