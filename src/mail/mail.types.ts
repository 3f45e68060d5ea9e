import type { Transaction } from '../database/database.types.js';
import type { MailOutboxRow } from '../database/schema.js';

/** A message ready to go: plain text and HTML of the same content. */
export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** A queued mail as its composer sees it. */
export type QueuedMail = Pick<
  MailOutboxRow,
  'id' | 'kind' | 'recipient' | 'userId' | 'payload' | 'createdAt'
>;

/**
 * Turns a queued mail into the message to send, inside a transaction that
 * commits before the send (a link mail makes its token there); null when
 * nothing is to be sent any more (the account is gone or disabled, …).
 */
export type MailComposer = (tx: Transaction, mail: QueuedMail) => Promise<OutgoingMail | null>;
