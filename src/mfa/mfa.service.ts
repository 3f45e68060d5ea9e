import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '../access/principal.js';
import { AuditService } from '../audit/audit.service.js';
import { ApiError } from '../common/errors/api-error.js';
import type { ClientInfo } from '../common/http/client-info.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { DATABASE } from '../database/database.module.js';
import type { Database, Transaction } from '../database/database.types.js';
import { MfaChallengesRepository } from '../database/mfa-challenges.repository.js';
import { MfaRecoveryCodesRepository } from '../database/mfa-recovery-codes.repository.js';
import { MfaTotpRepository } from '../database/mfa-totp.repository.js';
import type { User } from '../database/schema.js';
import { UsersRepository } from '../database/users.repository.js';
import { AuthStateService } from '../sessions/auth-state.service.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { SigninAttemptsService } from '../throttling/signin-attempts.service.js';
import { CurrentPasswordService } from '../users/current-password.service.js';
import type { EnrolTotpBody, RecoveryCodes, TotpEnrolment } from './mfa.schemas.js';
import { generateRecoveryCodes, hashRecoveryCode, normalizeRecoveryCode } from './recovery-codes.js';
import { type SecondFactor, type SecondFactorMethod, SecondFactorService } from './second-factor.service.js';
import { base32Secret, generateTotpSecret, otpauthUrl } from './totp.js';
import { TotpSecretBox } from './totp-secret-box.js';

/**
 * Turning MFA on and off: enrolment (password-confirmed), confirmation with a first code (MFA on,
 * every other session revoked), new recovery codes, disabling with a code, and the admin reset.
 * Each change runs in one transaction that locks the user's row first — as signin does before it
 * decides between a session and an MFA challenge — and writes its audit event.
 */
@Injectable()
export class MfaService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(DATABASE) private readonly db: Database,
    private readonly users: UsersRepository,
    private readonly currentPassword: CurrentPasswordService,
    private readonly totp: MfaTotpRepository,
    private readonly recoveryCodes: MfaRecoveryCodesRepository,
    private readonly challenges: MfaChallengesRepository,
    private readonly secondFactor: SecondFactorService,
    private readonly box: TotpSecretBox,
    private readonly sessions: SessionsService,
    private readonly authState: AuthStateService,
    private readonly audit: AuditService,
    private readonly signinAttempts: SigninAttemptsService,
  ) {}

  /** A new secret, pending until confirmed; replaces a pending one. 409 when MFA is on already. */
  async enrol(principal: Principal, body: EnrolTotpBody, client: ClientInfo): Promise<TotpEnrolment> {
    const user = await this.currentPassword.check(principal.userId, body.currentPassword, client);
    const secret = generateTotpSecret();
    await this.db.transaction(async (tx) => {
      const current = await this.lockUser(tx, user.id);
      if (current.mfaEnabledAt) throw alreadyEnabled();
      await this.totp.upsert(tx, user.id, this.box.seal(user.id, secret));
    });
    return {
      secret: base32Secret(secret),
      otpauthUrl: otpauthUrl(secret, this.config.mfa.issuer, user.email),
    };
  }

  /**
   * Confirms the pending secret with a code of it: MFA is on, ten recovery codes are made (and
   * shown this once), and every other session of the user ends — a session opened with the
   * password alone must not outlive the switch (the current one, which just proved the code,
   * stays).
   */
  async confirm(principal: Principal, code: string, client: ClientInfo): Promise<RecoveryCodes> {
    const codes = generateRecoveryCodes();
    const confirmed = await this.db.transaction(async (tx) => {
      const user = await this.lockUser(tx, principal.userId);
      if (user.mfaEnabledAt) throw alreadyEnabled();
      if (!(await this.totp.find(tx, user.id))) {
        throw new ApiError(
          'mfa_not_pending',
          'No authenticator is being set up: start with POST /auth/mfa/totp',
        );
      }
      // The code's time step is used up too: it cannot sign in a second time.
      if (!(await this.secondFactor.verifyTotp(tx, user.id, code))) return false;
      await this.users.setMfaEnabledAt(tx, user.id, new Date());
      await this.recoveryCodes.replace(tx, user.id, codes.map(storedHash));
      const revoked = await this.sessions.revokeAll(tx, user.id, 'mfa_enabled', principal.sessionId);
      await this.audit.record(tx, {
        type: 'mfa_enabled',
        userId: user.id,
        client,
        detail: { method: 'totp', revokedSessions: revoked },
      });
      return true;
    });
    if (!confirmed) throw invalidCode();
    this.authState.invalidateUser(principal.userId);
    return { recoveryCodes: codes };
  }

  /** New recovery codes for a TOTP code; the old ones stop working. */
  async regenerateRecoveryCodes(
    principal: Principal,
    code: string,
    client: ClientInfo,
  ): Promise<RecoveryCodes> {
    const codes = generateRecoveryCodes();
    await this.withSecondFactor(
      principal.userId,
      { totp: code },
      'recovery_codes',
      client,
      async (tx, user) => {
        await this.recoveryCodes.replace(tx, user.id, codes.map(storedHash));
        await this.audit.record(tx, { type: 'recovery_codes_regenerated', userId: user.id, client });
      },
    );
    return { recoveryCodes: codes };
  }

  /** Turns MFA off, for a TOTP code or a recovery code. */
  async disable(principal: Principal, factor: SecondFactor, client: ClientInfo): Promise<void> {
    const method = await this.withSecondFactor(
      principal.userId,
      factor,
      'disable',
      client,
      async (tx, user, method) => {
        await this.remove(tx, user.id);
        await this.audit.record(tx, { type: 'mfa_disabled', userId: user.id, client, detail: { method } });
      },
    );
    this.authState.invalidateUser(principal.userId);
    if (method === 'recovery_code') client.events?.push('recovery_code_used');
  }

  /** An admin removes a user's MFA (a lost device) and ends every session of the user. */
  async reset(userId: string, actor: Principal, client: ClientInfo): Promise<void> {
    await this.db.transaction(async (tx) => {
      const user = await this.users.lockById(tx, userId, 'no key update');
      if (!user) throw new ApiError('not_found', 'User not found');
      if (!user.mfaEnabledAt) throw notEnabled();
      await this.remove(tx, user.id);
      const revoked = await this.sessions.revokeAll(tx, user.id, 'mfa_reset');
      await this.audit.record(tx, {
        type: 'mfa_reset',
        userId: user.id,
        actorId: actor.userId,
        client,
        detail: { revokedSessions: revoked },
      });
    });
    this.authState.invalidateUser(userId);
  }

  /**
   * Runs `change` once the caller proved a second factor, in the transaction that verified it.
   * Counted like a signin attempt of the user's email from this client: a wrong code is a
   * failure toward SIGNIN_MAX_FAILURES (429 beyond), audited as mfa_challenge_failed.
   */
  private async withSecondFactor(
    userId: string,
    factor: SecondFactor,
    purpose: 'recovery_codes' | 'disable',
    client: ClientInfo,
    change: (tx: Transaction, user: User, method: SecondFactorMethod) => Promise<void>,
  ): Promise<SecondFactorMethod> {
    const user = await this.users.findById(this.db, userId);
    if (!user) throw new ApiError('session_revoked', 'Session is no longer valid; sign in again');
    if (!user.mfaEnabledAt) throw notEnabled();
    const attempt = await this.signinAttempts.begin(user.email, client.ip);
    if (attempt.throttled) {
      throw new ApiError('too_many_requests', 'Too many failed attempts; try again later', undefined, {
        'Retry-After': String(attempt.retryAfter),
      });
    }
    let method: SecondFactorMethod | undefined;
    try {
      method = await this.db.transaction(async (tx) => {
        const current = await this.lockUser(tx, userId);
        if (!current.mfaEnabledAt) throw notEnabled();
        const proven = await this.secondFactor.verify(tx, userId, factor);
        if (!proven) {
          await this.audit.record(tx, {
            type: 'mfa_challenge_failed',
            userId,
            client,
            detail: { method: 'totp' in factor ? 'totp' : 'recovery_code', purpose },
          });
          return undefined;
        }
        if (proven === 'recovery_code') {
          await this.audit.record(tx, {
            type: 'recovery_code_used',
            userId,
            client,
            detail: { purpose, remaining: await this.recoveryCodes.countUnused(tx, userId) },
          });
        }
        await change(tx, current, proven);
        return proven;
      });
    } catch (error) {
      await attempt.abandoned();
      throw error;
    }
    if (!method) {
      await attempt.failed();
      throw invalidCode();
    }
    await attempt.succeeded();
    return method;
  }

  /** Everything of the user's MFA: the authenticator, the codes, open challenges; MFA off. */
  private async remove(tx: Transaction, userId: string): Promise<void> {
    await this.totp.delete(tx, userId);
    await this.recoveryCodes.deleteAll(tx, userId);
    await this.challenges.deleteOfUser(tx, userId);
    await this.users.setMfaEnabledAt(tx, userId, null);
  }

  /** The caller's row, locked against signins and other MFA changes until the transaction ends. */
  private async lockUser(tx: Transaction, userId: string): Promise<User> {
    const user = await this.users.lockById(tx, userId, 'no key update');
    // The guard let the request in; the user was deleted since.
    if (!user) throw new ApiError('session_revoked', 'Session is no longer valid; sign in again');
    return user;
  }
}

function storedHash(code: string): Buffer {
  return hashRecoveryCode(normalizeRecoveryCode(code)!);
}

function invalidCode(): ApiError {
  return new ApiError('invalid_mfa_code', 'The code is wrong, expired or already used');
}

function alreadyEnabled(): ApiError {
  return new ApiError('mfa_already_enabled', 'Multi-factor authentication is on already');
}

function notEnabled(): ApiError {
  return new ApiError('mfa_not_enabled', 'Multi-factor authentication is not on');
}
