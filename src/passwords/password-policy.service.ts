import { Inject, Injectable, Optional } from '@nestjs/common';
import { dictionary } from '@zxcvbn-ts/language-common';

/** Injection token for {@link PasswordPolicyOptions}. */
export const PASSWORD_POLICY_OPTIONS = Symbol('PASSWORD_POLICY_OPTIONS');

export interface PasswordPolicyOptions {
  /** Minimum length in Unicode code points. Default 8. */
  minLength: number;
  /** Maximum length in Unicode code points. Default 128. */
  maxLength: number;
}

const DEFAULT_MIN_LENGTH = 8;
const DEFAULT_MAX_LENGTH = 128;

let commonPasswords: ReadonlySet<string> | undefined;

/** The zxcvbn-ts common-password list (lowercase), as a Set built on first use. */
function commonPasswordSet(): ReadonlySet<string> {
  commonPasswords ??= new Set(dictionary['passwords-common']);
  return commonPasswords;
}

const characters = (n: number): string => `${n} character${n === 1 ? '' : 's'}`;

/**
 * Length limits plus a common-password blocklist (NIST SP 800-63B style): no
 * composition rules. The password is judged exactly as typed: no trimming, no
 * Unicode normalisation, no truncation.
 */
@Injectable()
export class PasswordPolicy {
  readonly minLength: number;
  readonly maxLength: number;

  constructor(
    @Optional() @Inject(PASSWORD_POLICY_OPTIONS) options: Partial<PasswordPolicyOptions> | null = null,
  ) {
    const minLength = options?.minLength ?? DEFAULT_MIN_LENGTH;
    const maxLength = options?.maxLength ?? DEFAULT_MAX_LENGTH;
    if (!Number.isSafeInteger(minLength) || minLength < 1) {
      throw new RangeError(`PasswordPolicy: minLength must be a positive integer, got ${String(minLength)}`);
    }
    if (!Number.isSafeInteger(maxLength) || maxLength < minLength) {
      throw new RangeError(
        `PasswordPolicy: maxLength must be an integer >= minLength (${minLength}), got ${String(maxLength)}`,
      );
    }
    this.minLength = minLength;
    this.maxLength = maxLength;
  }

  /** Returns null when `password` is acceptable, otherwise a short reason ("must be at least 8 characters"). */
  check(password: string): string | null {
    const length = [...password].length;
    if (length < this.minLength) return `must be at least ${characters(this.minLength)}`;
    if (length > this.maxLength) return `must be at most ${characters(this.maxLength)}`;
    if (commonPasswordSet().has(password.toLowerCase())) {
      return 'is too common (found in a list of common passwords)';
    }
    return null;
  }
}
