import { Inject, Injectable } from '@nestjs/common';
import { timingSafeEqual } from 'node:crypto';
import { AuditService } from '../audit/audit.service.js';
import type { ClientInfo } from '../common/http/client-info.js';
import { DATABASE } from '../database/database.module.js';
import type { Database, Transaction } from '../database/database.types.js';
import { MfaChallengesRepository } from '../database/mfa-challenges.repository.js';
import { MfaRecoveryCodesRepository } from '../database/mfa-recovery-codes.repository.js';
import type { User } from '../database/schema.js';
import {
  generateMfaToken,
  hashMfaToken,
  looksLikeMfaToken,
  MFA_TOKEN_MAX_FAILURES,
  MFA_TOKEN_TTL_MS,
  passwordFingerprint,
} from './mfa-token.js';
import { type SecondFactor, type SecondFactorMethod, SecondFactorService } from './second-factor.service.js';

/** What answering a challenge came to. */
export type ChallengeAnswer =
  | { kind: 'ok'; method: SecondFactorMethod }
  | { kind: 'wrong_code' }
  /** Unknown, expired, out of attempts, or its password step no longer stands. */
  | { kind: 'invalid_token' };

/**
 * The second step of a signin with MFA. The password step, inside the transaction that would
 * otherwise have opened the session, opens a challenge instead and hands out its mfaToken; the
 * second step answers it with a code, inside the transaction that then opens the session. Both
 * run with the user's row locked, as enabling, disabling and resetting MFA do, so MFA's state
 * cannot change between the check and the session.
 */
@Injectable()
export class MfaChallengesService {
  constructor(
    @Inject(DATABASE) private readonly db: Database,
    private readonly challenges: MfaChallengesRepository,
    private readonly recoveryCodes: MfaRecoveryCodesRepository,
    private readonly secondFactor: SecondFactorService,
    private readonly audit: AuditService,
  ) {}

  /**
   * Opens a challenge for a password step that passed, bound to the user and to the password
   * hash it verified; returns the mfaToken. Inside the caller's transaction, user row locked.
   */
  async open(tx: Transaction, user: User, client: ClientInfo): Promise<string> {
    const now = new Date();
    // Whatever this user's earlier password steps left behind and can no longer be used.
    await this.challenges.deleteDeadOfUser(tx, user.id, now, MFA_TOKEN_MAX_FAILURES);
    const token = generateMfaToken();
    await this.challenges.insert(tx, {
      tokenHash: hashMfaToken(token),
      userId: user.id,
      passwordFingerprint: passwordFingerprint(user.passwordHash),
      createdAt: now,
      expiresAt: new Date(now.getTime() + MFA_TOKEN_TTL_MS),
    });
    await this.audit.record(tx, {
      type: 'mfa_challenge',
      userId: user.id,
      actorId: null, // not authenticated yet
      client,
      detail: { email: user.email },
    });
    return token;
  }

  /** The user whose challenge this token may be (no lock; answer checks it again). */
  async userOf(token: string): Promise<string | undefined> {
    if (!looksLikeMfaToken(token)) return undefined;
    const challenge = await this.challenges.find(this.db, hashMfaToken(token));
    return challenge?.userId;
  }

  /**
   * Answers the challenge of `token` with a second factor, inside the caller's transaction,
   * which holds `user`'s row locked (read under that lock). A wrong code is counted on the
   * challenge (it dies at MFA_TOKEN_MAX_FAILURES) and audited; the caller commits either way. A
   * right one ends the challenge: the caller opens the session in the same transaction.
   */
  async answer(
    tx: Transaction,
    token: string,
    user: User,
    factor: SecondFactor,
    client: ClientInfo,
  ): Promise<ChallengeAnswer> {
    if (!looksLikeMfaToken(token)) return { kind: 'invalid_token' };
    const tokenHash = hashMfaToken(token);
    // Locked: concurrent answers to one challenge are checked one after the other, each seeing
    // the failures the others counted.
    const challenge = await this.challenges.lock(tx, tokenHash);
    if (
      !challenge ||
      challenge.userId !== user.id ||
      challenge.expiresAt.getTime() <= Date.now() ||
      challenge.failures >= MFA_TOKEN_MAX_FAILURES
    ) {
      return { kind: 'invalid_token' };
    }
    // The password step must still stand: MFA still on, the password not changed since.
    if (
      user.mfaEnabledAt === null ||
      !timingSafeEqual(challenge.passwordFingerprint, passwordFingerprint(user.passwordHash))
    ) {
      await this.challenges.delete(tx, tokenHash);
      return { kind: 'invalid_token' };
    }
    const method = await this.secondFactor.verify(tx, user.id, factor);
    if (!method) {
      const failures = await this.challenges.recordFailure(tx, tokenHash);
      await this.audit.record(tx, {
        type: 'mfa_challenge_failed',
        userId: user.id,
        actorId: null,
        client,
        detail: {
          method: 'totp' in factor ? 'totp' : 'recovery_code',
          failures,
          mfaTokenEnded: failures >= MFA_TOKEN_MAX_FAILURES,
        },
      });
      return { kind: 'wrong_code' };
    }
    await this.challenges.delete(tx, tokenHash);
    if (method === 'recovery_code') {
      await this.audit.record(tx, {
        type: 'recovery_code_used',
        userId: user.id,
        client,
        detail: { purpose: 'signin', remaining: await this.recoveryCodes.countUnused(tx, user.id) },
      });
    }
    return { kind: 'ok', method };
  }
}
