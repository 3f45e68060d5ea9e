import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { Transaction } from '../database/database.types.js';
import { LinkTokensRepository } from '../database/link-tokens.repository.js';
import type { User } from '../database/schema.js';
import { UsersRepository } from '../database/users.repository.js';
import { MailComposers } from '../mail/mail-composers.js';
import { displayName, type MailContent, renderMail } from '../mail/mail-templates.js';
import type { OutgoingMail, QueuedMail } from '../mail/mail.types.js';
import { generateLinkToken, hashLinkToken, LINK_KINDS, type LinkKind } from './link-token.js';

/** The account mails, as queued in the outbox (mail_outbox.kind). */
export const MAIL_KINDS = {
  emailVerification: 'email_verification',
  passwordReset: 'password_reset',
  emailChange: 'email_change',
  emailChangeNotice: 'email_change_notice',
  passwordResetNotice: 'password_reset_notice',
} as const;

/** The page of the front-end each link opens; the token rides in the fragment, never sent to a server. */
const LINK_PAGES: Record<LinkKind, string> = {
  [LINK_KINDS.emailVerification]: '/console/verify-email',
  [LINK_KINDS.passwordReset]: '/console/reset-password',
  [LINK_KINDS.emailChange]: '/console/confirm-email',
};

type Content = Omit<MailContent, 'product' | 'site' | 'recipient' | 'action'> & {
  action?: { label: string };
};

/**
 * Writes the account mails when they are sent. A link mail makes its link
 * token there, in the worker's transaction: the token is never stored (only
 * its hash), not even in the outbox, and a newer link of the same kind ends
 * the older ones (the user's row is locked, so two sends cannot both leave a
 * live link). A mail that no longer makes sense (the account is gone or
 * disabled, the address verified or changed meanwhile) is not sent.
 *
 * Links are built from PUBLIC_URL alone: nothing of any request (Host,
 * X-Forwarded-Host) is at hand here.
 */
@Injectable()
export class AccountMailComposers implements OnModuleInit {
  private readonly product: string;
  private readonly site: string;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly users: UsersRepository,
    private readonly links: LinkTokensRepository,
    private readonly composers: MailComposers,
  ) {
    this.product = displayName(config.mail.from, 'Gatehouse');
    this.site = new URL(config.publicUrl).host;
  }

  onModuleInit(): void {
    this.composers.register(MAIL_KINDS.emailVerification, (tx, mail) => this.verification(tx, mail));
    this.composers.register(MAIL_KINDS.passwordReset, (tx, mail) => this.passwordReset(tx, mail));
    this.composers.register(MAIL_KINDS.emailChange, (tx, mail) => this.emailChange(tx, mail));
    this.composers.register(MAIL_KINDS.emailChangeNotice, (tx, mail) => this.emailChangeNotice(tx, mail));
    this.composers.register(MAIL_KINDS.passwordResetNotice, (tx, mail) => this.passwordResetNotice(tx, mail));
  }

  private async verification(tx: Transaction, mail: QueuedMail): Promise<OutgoingMail | null> {
    const user = await this.lockedUser(tx, mail.userId);
    if (!user || user.emailVerifiedAt !== null || !sameAddress(user.email, mail.recipient)) return null;
    return this.linkMail(tx, user, LINK_KINDS.emailVerification, user.email, {
      subject: 'Verify your email address for {site}',
      paragraphs: ['Please confirm that {address} is your email address for your account at {site}.'],
      action: { label: 'Verify email address' },
      notYou: "If this wasn't you, ignore this message: nothing changes, and the link expires by itself.",
    });
  }

  private async passwordReset(tx: Transaction, mail: QueuedMail): Promise<OutgoingMail | null> {
    // Queued for an address, whatever it had then: only an enabled account gets a link.
    const found = await this.users.findByEmail(tx, mail.recipient);
    const user = await this.lockedUser(tx, found?.id ?? null);
    if (!user) return null;
    return this.linkMail(tx, user, LINK_KINDS.passwordReset, user.email, {
      subject: 'Reset your password for {site}',
      paragraphs: [
        'Someone asked to reset the password of the account {address} at {site}.',
        'Use the link below to choose a new one. Every session of the account will be signed out.',
      ],
      action: { label: 'Choose a new password' },
      notYou:
        "If this wasn't you, ignore this message: your password stays as it is. " +
        'If such messages keep coming, tell the administrators of {site}.',
    });
  }

  private async emailChange(tx: Transaction, mail: QueuedMail): Promise<OutgoingMail | null> {
    const user = await this.lockedUser(tx, mail.userId);
    const newEmail = mail.payload.newEmail ?? mail.recipient;
    if (!user || sameAddress(user.email, newEmail)) return null;
    return this.linkMail(tx, user, LINK_KINDS.emailChange, newEmail, {
      subject: 'Confirm your new email address for {site}',
      paragraphs: [
        'Someone asked to make {address} the email address of their account at {site}.',
        'The change happens only when the link below is used.',
      ],
      action: { label: 'Confirm this address' },
      notYou: "If this wasn't you, ignore this message: nothing changes.",
    });
  }

  private async emailChangeNotice(tx: Transaction, mail: QueuedMail): Promise<OutgoingMail | null> {
    if (!(await this.exists(tx, mail.userId))) return null;
    return this.render(mail.recipient, {
      subject: 'The email address of your account at {site} is about to change',
      paragraphs: [
        'Someone signed in to your account {address} at {site} and asked to change its email address.',
        'The change happens only once the new address confirms it; this address then no longer signs in.',
      ],
      notYou:
        "If this wasn't you, someone knows your password: change it now (or reset it from the sign-in page of " +
        '{site}), then sign out of every session.',
    });
  }

  private async passwordResetNotice(tx: Transaction, mail: QueuedMail): Promise<OutgoingMail | null> {
    if (!(await this.exists(tx, mail.userId))) return null;
    return this.render(mail.recipient, {
      subject: 'The password of your account at {site} was reset',
      paragraphs: [
        'The password of your account {address} at {site} was just reset with a link sent to this address.',
        'Every session of the account was signed out.',
      ],
      notYou:
        "If this wasn't you, someone can read your mail or used a link meant for you: reset your password " +
        'again at once, secure this mailbox, and tell the administrators of {site}.',
    });
  }

  /** Makes the link (its hash stored, the older links of its kind ended) and writes the mail. */
  private async linkMail(
    tx: Transaction,
    user: User,
    kind: LinkKind,
    to: string,
    content: Content,
  ): Promise<OutgoingMail> {
    const token = generateLinkToken();
    const ttlSeconds = this.ttl(kind);
    const expiresAt = await this.links.replace(tx, {
      userId: user.id,
      kind,
      email: to,
      tokenHash: hashLinkToken(token),
      ttlSeconds,
    });
    const url = `${this.config.publicUrl}${LINK_PAGES[kind]}#token=${token}`;
    return this.render(to, content, { label: content.action!.label, url, expiresAt, ttlSeconds });
  }

  private render(to: string, content: Content, action?: MailContent['action']): OutgoingMail {
    const rendered = renderMail({
      ...content,
      product: this.product,
      site: this.site,
      recipient: to,
      action,
    });
    return { to, ...rendered };
  }

  private ttl(kind: LinkKind): number {
    const ttl = this.config.linkTtl;
    if (kind === LINK_KINDS.emailVerification) return ttl.emailVerification;
    return kind === LINK_KINDS.passwordReset ? ttl.passwordReset : ttl.emailChange;
  }

  /** The enabled account, locked against another send of its links until commit. */
  private async lockedUser(tx: Transaction, id: string | null): Promise<User | undefined> {
    if (id === null) return undefined;
    const user = await this.users.lockById(tx, id, 'no key update');
    return user && user.disabledAt === null ? user : undefined;
  }

  private async exists(tx: Transaction, id: string | null): Promise<boolean> {
    return id !== null && (await this.users.findById(tx, id)) !== undefined;
  }
}

function sameAddress(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
