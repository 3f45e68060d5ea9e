import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '../access/principal.js';
import { AuditService } from '../audit/audit.service.js';
import { ApiError } from '../common/errors/api-error.js';
import type { ClientInfo } from '../common/http/client-info.js';
import { DATABASE } from '../database/database.module.js';
import type { Database, Transaction } from '../database/database.types.js';
import { LinkTokensRepository } from '../database/link-tokens.repository.js';
import type { User } from '../database/schema.js';
import { UsersRepository } from '../database/users.repository.js';
import { type EnqueueOutcome, MailOutbox } from '../mail/mail-outbox.service.js';
import { PasswordHasher } from '../passwords/password-hasher.service.js';
import { PasswordPolicy } from '../passwords/password-policy.service.js';
import { AuthStateService } from '../sessions/auth-state.service.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { CurrentPasswordService } from '../users/current-password.service.js';
import type { ChangeEmailBody, ResetPasswordBody } from './email.schemas.js';
import { hashLinkToken, LINK_KINDS, type LinkKind, looksLikeLinkToken } from './link-token.js';
import { MAIL_KINDS } from './account-mail.composers.js';

/**
 * The flows that go through the user's mailbox: verifying the email,
 * resetting a forgotten password, changing the email. A request queues mail
 * (the outbox, in the request's transaction); the link in it is made when it
 * is sent (see AccountMailComposers); using a link is one atomic statement
 * (LinkTokensRepository.use) in the transaction of the change it allows.
 */
@Injectable()
export class EmailFlowsService {
  constructor(
    @Inject(DATABASE) private readonly db: Database,
    private readonly users: UsersRepository,
    private readonly links: LinkTokensRepository,
    private readonly mail: MailOutbox,
    private readonly audit: AuditService,
    private readonly sessions: SessionsService,
    private readonly authState: AuthStateService,
    private readonly hasher: PasswordHasher,
    private readonly policy: PasswordPolicy,
    private readonly currentPassword: CurrentPasswordService,
  ) {}

  /**
   * Queues a verification mail in the caller's transaction. Signup records
   * the outcome in its own audit event; a request audits it on its own.
   */
  queueVerification(tx: Transaction, user: User): Promise<EnqueueOutcome> {
    return this.mail.enqueue(tx, {
      kind: MAIL_KINDS.emailVerification,
      to: user.email,
      userId: user.id,
      limited: true,
    });
  }

  /** POST /auth/email/verify: a new verification mail; 409 already_verified. */
  async requestVerification(principal: Principal, client: ClientInfo): Promise<void> {
    await this.db.transaction(async (tx) => {
      const user = await this.users.lockById(tx, principal.userId, 'no key update');
      if (!user) throw new ApiError('session_revoked', 'Session is no longer valid; sign in again');
      if (user.emailVerifiedAt !== null) {
        throw new ApiError('already_verified', 'This email address is verified already');
      }
      const outcome = await this.queueVerification(tx, user);
      await this.audit.record(tx, {
        type: 'email_verification_sent',
        userId: user.id,
        client,
        detail: { mail: outcome },
      });
    });
    this.mail.wake();
  }

  /** POST /auth/email/verify/confirm: the address is verified (again: 204 too). */
  async confirmVerification(token: string, client: ClientInfo): Promise<void> {
    const userId = await this.useLink(token, LINK_KINDS.emailVerification, async (tx, user) => {
      if (await this.users.markEmailVerified(tx, user.id)) {
        await this.audit.record(tx, { type: 'email_verified', userId: user.id, client });
      }
    });
    this.authState.invalidateUser(userId);
  }

  /**
   * POST /auth/password/forgot. Whether or not the address has an account,
   * and whether it is enabled, the request does the same work — one lookup,
   * then one transaction that queues a reset mail for the address and audits
   * the request — so its answer and its time say nothing about the account.
   * The composer, when the mail is due, sends it only to an enabled account.
   */
  async forgotPassword(email: string, client: ClientInfo): Promise<void> {
    const user = await this.users.findByEmail(this.db, email);
    await this.db.transaction(async (tx) => {
      const outcome = await this.mail.enqueue(tx, {
        kind: MAIL_KINDS.passwordReset,
        to: email,
        userId: null, // resolved when sent: the account may change meanwhile
        limited: true,
      });
      await this.audit.record(tx, {
        type: 'password_reset_requested',
        userId: user?.id ?? null,
        actorId: null, // an anonymous caller
        client,
        detail: { email, mail: outcome },
      });
    });
    this.mail.wake();
  }

  /**
   * POST /auth/password/reset: sets the password (the policy applies), ends
   * every session and every other live link of the user, and mails a notice.
   * It signs nobody in. Using the link also verifies the address.
   */
  async resetPassword(body: ResetPasswordBody, client: ClientInfo): Promise<void> {
    // A token that cannot work costs no password hash; using it below decides.
    if (!looksLikeLinkToken(body.token)) throw invalidLinkToken();
    if (!(await this.links.isLive(this.db, hashLinkToken(body.token), LINK_KINDS.passwordReset))) {
      throw invalidLinkToken();
    }
    const problem = this.policy.check(body.newPassword);
    if (problem) {
      throw ApiError.validation([{ field: 'newPassword', message: problem }], `Password ${problem}`);
    }
    const passwordHash = await this.hasher.hash(body.newPassword, client.closed);
    const userId = await this.useLink(body.token, LINK_KINDS.passwordReset, async (tx, user) => {
      await this.users.setPasswordHashAndVerify(tx, user.id, passwordHash);
      const revokedSessions = await this.sessions.revokeAll(tx, user.id, 'password_reset');
      const revokedLinks = await this.links.endAllOfUser(tx, user.id, 'revoked');
      await this.mail.enqueue(tx, {
        kind: MAIL_KINDS.passwordResetNotice,
        to: user.email,
        userId: user.id,
        limited: false, // the owner must hear of it whatever the quota
      });
      await this.audit.record(tx, {
        type: 'password_reset',
        userId: user.id,
        client,
        detail: { revokedSessions, revokedLinks },
      });
    });
    this.authState.invalidateUser(userId);
    this.mail.wake();
  }

  /**
   * POST /auth/email: with the current password, mails a confirmation link to
   * the new address and a notice to the current one. Nothing changes until
   * the link is used.
   */
  async requestEmailChange(principal: Principal, body: ChangeEmailBody, client: ClientInfo): Promise<void> {
    const user = await this.currentPassword.check(principal.userId, body.currentPassword, client);
    if (body.newEmail.toLowerCase() === user.email.toLowerCase()) {
      throw ApiError.validation([{ field: 'newEmail', message: 'is the current email' }]);
    }
    if (await this.users.findByEmail(this.db, body.newEmail)) throw emailTaken();
    await this.db.transaction(async (tx) => {
      const outcome = await this.mail.enqueue(tx, {
        kind: MAIL_KINDS.emailChange,
        to: body.newEmail,
        userId: user.id,
        payload: { newEmail: body.newEmail },
        limited: true,
      });
      if (outcome === 'queued') {
        await this.mail.enqueue(tx, {
          kind: MAIL_KINDS.emailChangeNotice,
          to: user.email,
          userId: user.id,
          // Unlimited for a verified address (its owner must hear of it, whoever used up the quota);
          // limited for an unverified one, which may be a stranger's.
          limited: user.emailVerifiedAt === null,
        });
      }
      await this.audit.record(tx, {
        type: 'email_change_requested',
        userId: user.id,
        client,
        detail: { newEmail: body.newEmail, mail: outcome },
      });
    });
    this.mail.wake();
  }

  /**
   * POST /auth/email/confirm: the email becomes the new (verified) address,
   * unless another account took it meanwhile (409, and the link still
   * works). The confirming request has no session: every session of the
   * user ends, and every other live link (sent to the old address) with them.
   */
  async confirmEmailChange(token: string, client: ClientInfo): Promise<void> {
    const userId = await this.useLink(token, LINK_KINDS.emailChange, async (tx, user, email) => {
      if (!(await this.users.changeEmail(tx, user.id, email))) throw emailTaken(); // rolls back
      const revokedSessions = await this.sessions.revokeAll(tx, user.id, 'email_changed');
      const revokedLinks = await this.links.endAllOfUser(tx, user.id, 'revoked');
      await this.audit.record(tx, {
        type: 'email_changed',
        userId: user.id,
        client,
        detail: { from: user.email, to: email, revokedSessions, revokedLinks },
      });
    });
    this.authState.invalidateUser(userId);
  }

  /**
   * Uses a link and applies its change in one transaction; returns the user's
   * id. Any failure, the change's included, rolls back the use too. A link
   * works only for an enabled account, and (but for an email change) only
   * while the account's email is still the address it was sent to.
   *
   * The user's row is locked before the link is used, the order in which the
   * mail worker makes links (user, then links): the two never deadlock, and
   * concurrent uses of one link queue on the row, then all but the first
   * find it used.
   */
  private async useLink(
    token: string,
    kind: LinkKind,
    change: (tx: Transaction, user: User, email: string) => Promise<void>,
  ): Promise<string> {
    if (!looksLikeLinkToken(token)) throw invalidLinkToken();
    const tokenHash = hashLinkToken(token);
    return this.db.transaction(async (tx) => {
      const owner = await this.links.ownerOf(tx, tokenHash, kind);
      if (!owner) throw invalidLinkToken();
      const user = await this.users.lockById(tx, owner, 'update');
      const link = await this.links.use(tx, tokenHash, kind);
      if (!link) throw invalidLinkToken();
      const sameAddress = user?.email.toLowerCase() === link.email.toLowerCase();
      if (!user || user.disabledAt !== null || (kind !== LINK_KINDS.emailChange && !sameAddress)) {
        throw invalidLinkToken();
      }
      await change(tx, user, link.email);
      return user.id;
    });
  }
}

function invalidLinkToken(): ApiError {
  return new ApiError(
    'invalid_link_token',
    'This link is invalid, used, replaced by a newer one, or expired',
  );
}

function emailTaken(): ApiError {
  return new ApiError('email_taken', 'An account with this email already exists');
}
