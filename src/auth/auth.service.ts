import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { AuditService } from '../audit/audit.service.js';
import { ApiError } from '../common/errors/api-error.js';
import { DATABASE } from '../database/database.module.js';
import type { Database, Transaction } from '../database/database.types.js';
import type { User } from '../database/schema.js';
import { UsersRepository } from '../database/users.repository.js';
import { PasswordHasher } from '../passwords/password-hasher.service.js';
import { PasswordPolicy } from '../passwords/password-policy.service.js';
import { AuthStateService } from '../sessions/auth-state.service.js';
import type { ClientInfo } from '../common/http/client-info.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { SigninAttemptsService } from '../throttling/signin-attempts.service.js';
import { AccessTokenService } from '../keys/access-token.service.js';
import { CurrentPasswordService } from '../users/current-password.service.js';
import { UsersService } from '../users/users.service.js';
import { MfaChallengesService } from '../mfa/mfa-challenges.service.js';
import type { SecondFactor } from '../mfa/second-factor.service.js';
import { MFA_METHODS, type MfaRequired, type SigninMfaBody } from '../mfa/mfa.schemas.js';
import type { Amr, OpenedSession } from '../sessions/sessions.service.js';
import type { AuthResult, ChangePasswordBody, SigninBody, SignupBody, TokenPair } from './auth.schemas.js';
import type { Principal } from '../access/principal.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { MailOutbox } from '../mail/mail-outbox.service.js';
import { EmailFlowsService } from './email-flows.service.js';

/**
 * Tokens just issued, and when the session they belong to ends: the lifetime of
 * the refresh cookie that carries them in cookie mode (RefreshCookies).
 */
export interface Grant<T extends { refreshToken?: string }> {
  tokens: T;
  sessionEndsAt: Date;
}

/** Signup, signin, refresh, signout and password change: the flows, built on users, sessions and tokens. */
@Injectable()
export class AuthService implements OnModuleInit {
  constructor(
    @Inject(DATABASE) private readonly db: Database,
    private readonly users: UsersRepository,
    private readonly accounts: UsersService,
    private readonly hasher: PasswordHasher,
    private readonly policy: PasswordPolicy,
    private readonly sessions: SessionsService,
    private readonly authState: AuthStateService,
    private readonly tokens: AccessTokenService,
    private readonly audit: AuditService,
    private readonly signinAttempts: SigninAttemptsService,
    private readonly mfaChallenges: MfaChallengesService,
    private readonly currentPassword: CurrentPasswordService,
    private readonly emailFlows: EmailFlowsService,
    private readonly mail: MailOutbox,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    // Computes the dummy hash now, so the first signin with an unknown email costs what any other does.
    await this.hasher.verifyDummy('warm-up');
  }

  async signup(body: SignupBody, client: ClientInfo): Promise<Grant<AuthResult>> {
    this.enforcePolicy('password', body.password);
    const passwordHash = await this.hasher.hash(body.password, client.closed);
    const { user, session } = await this.db.transaction(async (tx) => {
      const user = await this.accounts.create(tx, { email: body.email, passwordHash });
      const session = await this.sessions.open(tx, user.id, client);
      const verificationMail =
        this.config.emailVerification === 'off'
          ? undefined
          : await this.emailFlows.queueVerification(tx, user);
      await this.audit.record(tx, {
        type: 'signup',
        userId: user.id,
        client,
        detail: { sessionId: session.sessionId, ...(verificationMail ? { verificationMail } : {}) },
      });
      return { user, session };
    });
    this.mail.wake();
    return this.result(user, session, ['pwd']);
  }

  /**
   * The password step. Without MFA it opens the session; with MFA on it opens an MFA challenge
   * instead (no tokens): the password was right, but the signin has not succeeded, so the
   * failure count for this email and client neither grows nor starts again.
   */
  async signin(body: SigninBody, client: ClientInfo): Promise<Grant<AuthResult> | MfaRequired> {
    // Brute-force protection first: a throttled attempt costs no password hash.
    const attempt = await this.signinAttempts.begin(body.email, client.ip);
    if (attempt.throttled) return this.refuseThrottled(attempt, body.email, client);
    let result: Grant<AuthResult> | MfaRequired;
    try {
      result = await this.checkCredentialsAndOpenSession(body, client);
    } catch (error) {
      // A refusal that says the password was right counts too: it must not become a free oracle.
      const failed =
        error instanceof ApiError &&
        (error.code === 'invalid_credentials' ||
          error.code === 'account_disabled' ||
          error.code === 'email_not_verified');
      await (failed ? attempt.failed() : attempt.abandoned());
      throw error;
    }
    if ('mfaRequired' in result) {
      await attempt.abandoned();
      client.events?.push('mfa_challenge');
    } else {
      await attempt.succeeded();
    }
    return result;
  }

  /**
   * The second step of a signin with MFA: the mfaToken of the password step and a TOTP code or
   * a recovery code → the session and its tokens (amr pwd+otp). A wrong code is a failed signin
   * of the user's email from this client (SIGNIN_MAX_FAILURES, then 429) and one of the 5 the
   * mfaToken survives.
   */
  async signinMfa(body: SigninMfaBody, client: ClientInfo): Promise<Grant<AuthResult>> {
    const userId = await this.mfaChallenges.userOf(body.mfaToken);
    const user = userId ? await this.users.findById(this.db, userId) : undefined;
    if (!user) throw invalidMfaToken();
    const attempt = await this.signinAttempts.begin(user.email, client.ip);
    if (attempt.throttled) return this.refuseThrottled(attempt, user.email, client);
    const factor = body.code !== undefined ? { totp: body.code } : { recoveryCode: body.recoveryCode! };
    let outcome: Awaited<ReturnType<AuthService['answerMfaChallenge']>>;
    try {
      outcome = await this.db.transaction((tx) =>
        this.answerMfaChallenge(tx, body.mfaToken, user.id, factor, client),
      );
    } catch (error) {
      await attempt.abandoned();
      throw error;
    }
    switch (outcome.kind) {
      case 'ok':
        await attempt.succeeded();
        this.sessions.endedByLimit(outcome.session.ended);
        if (outcome.method === 'recovery_code') client.events?.push('recovery_code_used');
        return this.result(outcome.user, outcome.session, ['pwd', 'otp']);
      case 'wrong_code':
        await attempt.failed();
        throw new ApiError('invalid_mfa_code', 'The code is wrong, expired or already used');
      case 'disabled':
        await attempt.failed();
        throw new ApiError('account_disabled', 'This account is disabled');
      case 'invalid_token':
        await attempt.abandoned();
        throw invalidMfaToken();
    }
  }

  /** The second step's transaction: the user's row locked, the challenge answered, the session opened. */
  private async answerMfaChallenge(
    tx: Transaction,
    mfaToken: string,
    userId: string,
    factor: SecondFactor,
    client: ClientInfo,
  ) {
    // Locked, as the password step and every MFA change lock it: MFA's state, the password and
    // the disabled flag read here hold until the session exists.
    const user = await this.users.lockById(tx, userId, 'no key update');
    if (!user) return { kind: 'invalid_token' } as const;
    if (user.disabledAt) return { kind: 'disabled' } as const;
    const answer = await this.mfaChallenges.answer(tx, mfaToken, user, factor, client);
    if (answer.kind !== 'ok') return answer;
    const session = await this.sessions.openWithinLimit(tx, user.id, client, ['pwd', 'otp']);
    await this.audit.record(tx, {
      type: 'signin_succeeded',
      userId: user.id,
      client,
      detail: { sessionId: session.sessionId, mfa: answer.method },
    });
    return { kind: 'ok', method: answer.method, session, user } as const;
  }

  /** 429 for a signin (either step) over SIGNIN_MAX_FAILURES; audited once per email, client and window. */
  private async refuseThrottled(
    attempt: { retryAfter: number; firstInWindow: boolean },
    email: string,
    client: ClientInfo,
  ): Promise<never> {
    if (attempt.firstInWindow) {
      const user = await this.users.findByEmail(this.db, email);
      await this.audit.record(this.db, {
        type: 'throttled',
        userId: user?.id ?? null,
        actorId: null, // an anonymous caller
        client,
        detail: { email, reason: 'signin_failures', retryAfter: attempt.retryAfter },
      });
    }
    throw new ApiError('too_many_requests', 'Too many failed signin attempts; try again later', undefined, {
      'Retry-After': String(attempt.retryAfter),
    });
  }

  private async checkCredentialsAndOpenSession(
    body: SigninBody,
    client: ClientInfo,
  ): Promise<Grant<AuthResult> | MfaRequired> {
    // The account can change while its password is being checked (argon2 takes tens of ms): a
    // password change, disabling or deletion committed meanwhile must not be missed, or the
    // session would be opened after it — with the old password and not revoked by the change,
    // for a disabled account (alive again once re-enabled), or for a deleted one (a foreign-key
    // failure). So the transaction that opens the session re-reads the row, locked; if it is
    // not the row that was checked, the check runs again on the new state.
    for (let attempt = 1; ; attempt++) {
      const result = await this.attemptSignin(body, client);
      if (result) return result;
      if (attempt === MAX_SIGNIN_RECHECKS) throw invalidCredentials();
    }
  }

  /**
   * One credentials check and session opening (or MFA challenge); undefined when the account
   * changed meanwhile.
   */
  private async attemptSignin(
    body: SigninBody,
    client: ClientInfo,
  ): Promise<Grant<AuthResult> | MfaRequired | undefined> {
    const user = await this.users.findByEmail(this.db, body.email);
    // Unknown email and wrong password: same work (one argon2 verification), same answer.
    const passwordOk = user
      ? await this.hasher.verify(user.passwordHash, body.password, client.closed)
      : await this.hasher.verifyDummy(body.password, client.closed);
    if (!user || !passwordOk) {
      await this.recordSigninFailure(
        user?.id ?? null,
        body.email,
        user ? 'wrong_password' : 'unknown_email',
        client,
      );
      throw invalidCredentials();
    }
    if (user.disabledAt) {
      await this.recordSigninFailure(user.id, body.email, 'account_disabled', client);
      throw new ApiError('account_disabled', 'This account is disabled');
    }
    if (this.config.emailVerification === 'required' && user.emailVerifiedAt === null) {
      await this.recordSigninFailure(user.id, body.email, 'email_not_verified', client);
      throw new ApiError(
        'email_not_verified',
        'Verify your email address first: use the link sent to it, or reset your password to get a new one',
      );
    }

    // Hashes made with older parameters are upgraded while the password is at hand.
    const upgradedHash = this.hasher.needsRehash(user.passwordHash)
      ? await this.hasher.hash(body.password, client.closed)
      : null;
    const opened = await this.db.transaction(async (tx) => {
      // Locked until commit: a password change, disabling or deletion either committed before
      // this read (and is seen here) or waits for this session to exist (and then revokes it).
      // The write lock, not a share lock: signins of one user queue here, so each counts the
      // sessions the previous one left (MAX_SESSIONS_PER_USER) and a hash upgrade cannot deadlock.
      const current = await this.users.lockById(tx, user.id, 'no key update');
      if (!current || current.passwordHash !== user.passwordHash || current.disabledAt !== null) {
        return undefined;
      }
      if (upgradedHash) await this.users.setPasswordHash(tx, user.id, upgradedHash);
      // MFA is checked here, under the lock that turning it on takes too: a signin whose password
      // check began before MFA was confirmed gets a challenge, never a session, once it is on.
      if (current.mfaEnabledAt) {
        const challengeOf = upgradedHash ? { ...current, passwordHash: upgradedHash } : current;
        return { kind: 'mfa', mfaToken: await this.mfaChallenges.open(tx, challengeOf, client) } as const;
      }
      const session = await this.sessions.openWithinLimit(tx, user.id, client);
      await this.audit.record(tx, {
        type: 'signin_succeeded',
        userId: user.id,
        client,
        detail: { sessionId: session.sessionId, ...(upgradedHash ? { passwordHashUpgraded: true } : {}) },
      });
      return { kind: 'session', session, user: current } as const;
    });
    if (!opened) return undefined;
    // A rehash moved updated_at: drop the cached profile.
    if (upgradedHash) this.authState.invalidateUser(user.id);
    if (opened.kind === 'mfa') {
      return { mfaRequired: true, mfaToken: opened.mfaToken, methods: [...MFA_METHODS] };
    }
    this.sessions.endedByLimit(opened.session.ended);
    return this.result(opened.user, opened.session, ['pwd']);
  }

  async refresh(refreshToken: string, client: ClientInfo): Promise<Grant<TokenPair>> {
    // The session's amr, as its signin authenticated: a refresh proves no factor by itself.
    const rotated = await this.sessions.refresh(refreshToken, client);
    const { accessToken, expiresIn } = this.tokens.issue(rotated);
    return {
      tokens: { accessToken, refreshToken: rotated.refreshToken, tokenType: 'Bearer', expiresIn },
      sessionEndsAt: rotated.expiresAt,
    };
  }

  async signout(principal: Principal, client: ClientInfo): Promise<void> {
    await this.sessions.signout(principal.userId, principal.sessionId, client);
  }

  async signoutAll(principal: Principal, client: ClientInfo): Promise<void> {
    await this.sessions.endAll(principal.userId, principal.userId, client);
  }

  /** Changes the password and revokes every other session; the current one stays. */
  async changePassword(principal: Principal, body: ChangePasswordBody, client: ClientInfo): Promise<void> {
    this.enforcePolicy('newPassword', body.newPassword);
    const user = await this.currentPassword.check(principal.userId, body.currentPassword, client);
    const passwordHash = await this.hasher.hash(body.newPassword, client.closed);
    const changed = await this.db.transaction(async (tx) => {
      // Two changes at once: the second checked its current password against a hash the
      // first has replaced, so it fails instead of silently winning.
      const current = await this.users.lockById(tx, user.id, 'no key update');
      if (current?.passwordHash !== user.passwordHash) return false;
      await this.users.setPasswordHash(tx, user.id, passwordHash);
      const revoked = await this.sessions.revokeAll(tx, user.id, 'password_changed', principal.sessionId);
      await this.audit.record(tx, {
        type: 'password_changed',
        userId: user.id,
        client,
        detail: { revokedSessions: revoked },
      });
      return true;
    });
    if (!changed) throw invalidCredentials();
    this.authState.invalidateUser(user.id);
  }

  private async recordSigninFailure(
    userId: string | null,
    email: string,
    reason: 'unknown_email' | 'wrong_password' | 'account_disabled' | 'email_not_verified',
    client: ClientInfo,
  ): Promise<void> {
    // The caller is anonymous: it has not proven to be the account's owner.
    await this.audit.record(this.db, {
      type: 'signin_failed',
      userId,
      actorId: null,
      client,
      detail: { email, reason },
    });
  }

  private enforcePolicy(field: string, password: string): void {
    const problem = this.policy.check(password);
    if (problem) throw ApiError.validation([{ field, message: problem }], `Password ${problem}`);
  }

  private result(user: User, session: OpenedSession, amr: Amr): Grant<AuthResult> {
    const { accessToken, expiresIn } = this.tokens.issue({
      userId: user.id,
      sessionId: session.sessionId,
      roles: user.roles,
      amr,
    });
    return {
      tokens: {
        id: user.id,
        email: user.email,
        roles: user.roles,
        accessToken,
        refreshToken: session.refreshToken,
        tokenType: 'Bearer',
        expiresIn,
      },
      sessionEndsAt: session.expiresAt,
    };
  }
}

/**
 * How many times a signin checks the credentials when the account keeps changing under it
 * (each change needs a commit in between, so this is never reached in practice); then it fails
 * closed.
 */
const MAX_SIGNIN_RECHECKS = 3;

function invalidCredentials(): ApiError {
  return new ApiError('invalid_credentials', 'Invalid email or password');
}

function invalidMfaToken(): ApiError {
  return new ApiError('invalid_mfa_token', 'The MFA token is invalid or expired; sign in again');
}
