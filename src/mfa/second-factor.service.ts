import { Injectable } from '@nestjs/common';
import type { Transaction } from '../database/database.types.js';
import { MfaRecoveryCodesRepository } from '../database/mfa-recovery-codes.repository.js';
import { MfaTotpRepository } from '../database/mfa-totp.repository.js';
import { hashRecoveryCode, normalizeRecoveryCode } from './recovery-codes.js';
import { matchTotpStep } from './totp.js';
import { TotpSecretBox } from './totp-secret-box.js';

/** A second factor as presented: a TOTP code or a recovery code. */
export type SecondFactor = { totp: string } | { recoveryCode: string };

/** The method a second factor was proven with (audit details; `methods` of the signin answer). */
export type SecondFactorMethod = 'totp' | 'recovery_code';

/**
 * Checks a second factor, inside the caller's transaction (which holds the user's row locked),
 * and uses it up: a TOTP time step is accepted once per user, a recovery code once. Both uses
 * are single statements that only one of several concurrent requests can win.
 */
@Injectable()
export class SecondFactorService {
  constructor(
    private readonly totp: MfaTotpRepository,
    private readonly recoveryCodes: MfaRecoveryCodesRepository,
    private readonly box: TotpSecretBox,
  ) {}

  /** The method it was proven with, or undefined for a wrong, replayed or used code. */
  async verify(
    tx: Transaction,
    userId: string,
    factor: SecondFactor,
  ): Promise<SecondFactorMethod | undefined> {
    if ('totp' in factor) return (await this.verifyTotp(tx, userId, factor.totp)) ? 'totp' : undefined;
    return (await this.useRecoveryCode(tx, userId, factor.recoveryCode)) ? 'recovery_code' : undefined;
  }

  /** True when `code` is the TOTP of a time step around now that was not accepted before. */
  async verifyTotp(tx: Transaction, userId: string, code: string): Promise<boolean> {
    const now = Date.now();
    const row = await this.totp.find(tx, userId);
    if (!row) return false;
    const step = matchTotpStep(this.box.open(userId, row.secretEncrypted), code, now);
    if (step === undefined) return false;
    // Compare-and-set: UPDATE … WHERE last_used_step < step. A replay (even a concurrent one,
    // on another instance) finds the step taken.
    return this.totp.claimStep(tx, userId, step);
  }

  private async useRecoveryCode(tx: Transaction, userId: string, typed: string): Promise<boolean> {
    const code = normalizeRecoveryCode(typed);
    if (!code) return false;
    return this.recoveryCodes.consume(tx, userId, hashRecoveryCode(code), new Date());
  }
}
