import { sql } from 'drizzle-orm';
import {
  bigint,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  primaryKey,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

const bytea = customType<{ data: Buffer; driverData: Buffer | Uint8Array }>({
  dataType: () => 'bytea',
  // pg returns a Buffer; a Uint8Array (another driver's, or a value built in code) becomes one too.
  fromDriver: (value) => (Buffer.isBuffer(value) ? value : Buffer.from(value)),
});

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
/** Millisecond precision, as a JavaScript Date has: for keys that pagination cursors carry. */
const timestamptzMs = (name: string) => timestamp(name, { withTimezone: true, mode: 'date', precision: 3 });

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey(),
    /** As the user typed it (trimmed); uniqueness is on lower(email). */
    email: text('email').notNull(),
    passwordHash: text('password_hash').notNull(),
    roles: text('roles')
      .array()
      .notNull()
      .default(sql`'{user}'::text[]`),
    disabledAt: timestamptz('disabled_at'),
    /**
     * When the user confirmed a TOTP authenticator: from then on signin asks for a second factor.
     * On this row (not only in mfa_totp) so that signin reads it under the lock it already takes.
     */
    mfaEnabledAt: timestamptz('mfa_enabled_at'),
    /** When the current email was proven to reach the user (a verification, reset or change link used). */
    emailVerifiedAt: timestamptz('email_verified_at'),
    createdAt: timestamptzMs('created_at').notNull().defaultNow(),
    updatedAt: timestamptz('updated_at').notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex('users_email_lower_key').on(sql`lower(${table.email})`),
    // Case-insensitive prefix search (?email=) whatever the database's collation.
    index('users_email_lower_prefix_idx').on(sql`lower(${table.email}) text_pattern_ops`),
    // Keyset pagination, newest first. NULLS FIRST is what `ORDER BY … DESC` means:
    // with any other null order the planner sorts the whole table instead.
    index('users_created_at_id_idx').on(table.createdAt.desc().nullsFirst(), table.id.desc().nullsFirst()),
  ],
);

/** One row per signin (device). A session's refresh tokens live in refresh_tokens. */
export const sessions = pgTable(
  'sessions',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: timestamptzMs('created_at').notNull().defaultNow(),
    lastUsedAt: timestamptz('last_used_at').notNull().defaultNow(),
    /** Absolute end: createdAt + SESSION_MAX_AGE. The idle end is lastUsedAt + SESSION_IDLE_TIMEOUT. */
    expiresAt: timestamptz('expires_at').notNull(),
    revokedAt: timestamptz('revoked_at'),
    revokedReason: text('revoked_reason'),
    userAgent: text('user_agent'),
    ip: text('ip'),
    /** Generation of the current refresh token(s); bumped on every rotation. */
    refreshGeneration: integer('refresh_generation').notNull().default(0),
    /** When the previous generation was retired: the start of its grace window. */
    rotatedAt: timestamptz('rotated_at'),
    /** How the signin that opened it authenticated (RFC 8176): `{pwd}` or `{pwd,otp}`; the tokens' `amr`. */
    amr: text('amr')
      .array()
      .notNull()
      .default(sql`'{pwd}'::text[]`),
  },
  (table) => [
    index('sessions_user_id_idx').on(table.userId),
    // GET /auth/sessions: keyset pagination of one user's sessions, newest first.
    index('sessions_user_id_created_at_id_idx').on(
      table.userId,
      table.createdAt.desc().nullsFirst(),
      table.id.desc().nullsFirst(),
    ),
    // The retention job: sessions past their absolute end.
    index('sessions_expires_at_idx').on(table.expiresAt),
  ],
);

/**
 * Every refresh token a session was given, as a SHA-256 hash only. Retired
 * generations stay so that presenting one is recognised as reuse.
 */
export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    tokenHash: bytea('token_hash').primaryKey(),
    sessionId: uuid('session_id')
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    generation: integer('generation').notNull(),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
  },
  (table) => [index('refresh_tokens_session_id_idx').on(table.sessionId)],
);

/**
 * JWT signing keys. The private key is encrypted (AES-256-GCM) under
 * KEY_ENCRYPTION_SECRET. A key signs from activatesAt until the next key
 * activates, and stays published until the tokens it signed have expired —
 * unless revoked (a compromised key), which ends all of that at once.
 */
export const signingKeys = pgTable('signing_keys', {
  kid: text('kid').primaryKey(),
  alg: text('alg').notNull(),
  publicJwk: jsonb('public_jwk').notNull(),
  privateKeyEncrypted: text('private_key_encrypted').notNull(),
  createdAt: timestamptz('created_at').notNull().defaultNow(),
  activatesAt: timestamptz('activates_at').notNull(),
  /** Set by `keys revoke`: from then on the key neither signs, nor verifies, nor is published. Final. */
  revokedAt: timestamptz('revoked_at'),
});

/**
 * A user's TOTP authenticator (RFC 6238): pending until confirmed (users.mfa_enabled_at), then
 * active. The secret is encrypted (AES-256-GCM) under KEY_ENCRYPTION_SECRET.
 */
export const mfaTotp = pgTable('mfa_totp', {
  userId: uuid('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  secretEncrypted: text('secret_encrypted').notNull(),
  /** The last time step (unix time / 30 s) a code was accepted for: each step is accepted once. */
  lastUsedStep: bigint('last_used_step', { mode: 'number' }).notNull().default(0),
  createdAt: timestamptz('created_at').notNull().defaultNow(),
});

/** Single-use recovery codes, as SHA-256 hashes (each code has 125 random bits). */
export const mfaRecoveryCodes = pgTable(
  'mfa_recovery_codes',
  {
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    codeHash: bytea('code_hash').notNull(),
    usedAt: timestamptz('used_at'),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.userId, table.codeHash] })],
);

/**
 * The second step of a signin with MFA: one row per password step that asked for a code, found
 * by the SHA-256 of its mfaToken. Bound to the user and to the password hash the step checked.
 */
export const mfaChallenges = pgTable(
  'mfa_challenges',
  {
    tokenHash: bytea('token_hash').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** SHA-256 of the password hash the password step verified: a password change kills the challenge. */
    passwordFingerprint: bytea('password_fingerprint').notNull(),
    failures: integer('failures').notNull().default(0),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
    expiresAt: timestamptz('expires_at').notNull(),
  },
  (table) => [
    index('mfa_challenges_user_id_idx').on(table.userId),
    index('mfa_challenges_expires_at_idx').on(table.expiresAt),
  ],
);

/**
 * Security events. No foreign keys: events outlive the accounts they are
 * about. Written in the same transaction as the change they record.
 */
export const auditEvents = pgTable(
  'audit_events',
  {
    id: uuid('id').primaryKey(),
    type: text('type').notNull(),
    /** The account affected; null for a signin attempt with an unknown email. */
    userId: uuid('user_id'),
    /** Who acted: the user, an admin, or null for the system and anonymous callers. */
    actorId: uuid('actor_id'),
    ip: text('ip'),
    userAgent: text('user_agent'),
    createdAt: timestamptzMs('created_at').notNull().defaultNow(),
    detail: jsonb('detail').$type<Record<string, unknown>>().notNull().default({}),
  },
  (table) => [
    index('audit_events_created_at_id_idx').on(
      table.createdAt.desc().nullsFirst(),
      table.id.desc().nullsFirst(),
    ),
    index('audit_events_user_id_created_at_idx').on(
      table.userId,
      table.createdAt.desc().nullsFirst(),
      table.id.desc().nullsFirst(),
    ),
    index('audit_events_type_created_at_idx').on(
      table.type,
      table.createdAt.desc().nullsFirst(),
      table.id.desc().nullsFirst(),
    ),
  ],
);

/**
 * Links sent by mail (email verification, password reset, email change). The
 * token itself is made when the mail is sent and only its SHA-256 hash is
 * kept (null until then); a row ends once (used, superseded by a newer link
 * of its kind, or revoked), and never works past `expiresAt`.
 */
export const linkTokens = pgTable(
  'link_tokens',
  {
    id: uuid('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    kind: text('kind').notNull(),
    /** The address the link was sent to: the account's, or the new one of an email change. */
    email: text('email').notNull(),
    tokenHash: bytea('token_hash'),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
    expiresAt: timestamptz('expires_at').notNull(),
    endedAt: timestamptz('ended_at'),
    /** used, superseded or revoked. */
    endedReason: text('ended_reason'),
  },
  (table) => [
    uniqueIndex('link_tokens_token_hash_key').on(table.tokenHash),
    index('link_tokens_user_id_kind_idx').on(table.userId, table.kind),
    index('link_tokens_expires_at_idx').on(table.expiresAt),
  ],
);

/**
 * Mail to send, written in the transaction of the change that causes it and
 * delivered by the worker of any instance. It holds no link: a link mail's
 * token is made when it is sent. A worker claims a due row by setting
 * `claimId` and moving `nextAttemptAt` to the end of its lease: should its
 * instance die while sending, the row is due again then, for any worker.
 */
export const mailOutbox = pgTable(
  'mail_outbox',
  {
    id: uuid('id').primaryKey(),
    kind: text('kind').notNull(),
    recipient: text('recipient').notNull(),
    /** The account it is about; null for a reset asked for an address that has none. */
    userId: uuid('user_id'),
    /** What the mail needs beyond the account (an email change's new address); never a secret. */
    payload: jsonb('payload').$type<Record<string, string>>().notNull().default({}),
    /** pending, sent, cancelled (nothing left to send) or failed (after MAIL_MAX_ATTEMPTS). */
    status: text('status').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    /** When it is due: now, after a retry's delay, or at the end of a claim's lease. */
    nextAttemptAt: timestamptz('next_attempt_at').notNull().defaultNow(),
    /** The worker's claim (while it sends); a finish counts only with the same claim. */
    claimId: uuid('claim_id'),
    /** The last delivery error, short and without the message's content. */
    lastError: text('last_error'),
    createdAt: timestamptzMs('created_at').notNull().defaultNow(),
    finishedAt: timestamptz('finished_at'),
  },
  (table) => [
    // The worker's question: pending mail that is due.
    index('mail_outbox_due_idx')
      .on(table.nextAttemptAt)
      .where(sql`${table.status} = 'pending'`),
    // MAIL_PER_ADDRESS_PER_HOUR: one address's recent mail.
    index('mail_outbox_recipient_created_at_idx').on(sql`lower(${table.recipient})`, table.createdAt),
    // The retention job, and `mail failed`.
    index('mail_outbox_status_finished_at_idx').on(table.status, table.finishedAt),
  ],
);

/**
 * Service clients (machine to machine): they authenticate to /oauth/* with their id and secret
 * (client credentials). The secret has 256 random bits and only its SHA-256 hash is kept. Deleting a
 * client ends it: no row, no authentication, and its tokens are inactive (a trigger records the
 * deletion in revocation_events).
 */
export const serviceClients = pgTable(
  'service_clients',
  {
    id: uuid('id').primaryKey(),
    name: text('name').notNull(),
    secretHash: bytea('secret_hash').notNull(),
    /** What it may ask for: `introspect`, `revocations:read`, and resource scopes Gatehouse passes on. */
    scopes: text('scopes').array().notNull(),
    createdAt: timestamptzMs('created_at').notNull().defaultNow(),
  },
  (table) => [
    index('service_clients_created_at_id_idx').on(
      table.createdAt.desc().nullsFirst(),
      table.id.desc().nullsFirst(),
    ),
  ],
);

/**
 * The revocation feed (GET /oauth/revocations): one row per event that makes access tokens still
 * within their `exp` unacceptable — a live session revoked or deleted, a user's roles changed or the
 * user disabled (one row per live session), a service client deleted (no session). Written only by
 * the triggers of migration 0011, so that no path (service, command line, SQL by hand) can forget
 * one; each insert notifies `gatehouse_revocations` at commit. A row matters until its tokens have
 * expired (ACCESS_TOKEN_TTL after revokedAt); retention deletes it later.
 */
export const revocationEvents = pgTable(
  'revocation_events',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    /** The session whose tokens are concerned; null for a deleted service client. */
    sessionId: uuid('session_id'),
    /** The user (of the session) or the service client. */
    subject: uuid('subject').notNull(),
    /** The session's revoked_reason, or user_deleted, session_deleted, roles_changed, client_deleted. */
    reason: text('reason').notNull(),
    /** With roles_changed: the user's roles now. */
    roles: text('roles').array(),
    /** When the trigger ran (clock_timestamp(), not the transaction's start), in milliseconds. */
    revokedAt: timestamptzMs('revoked_at')
      .notNull()
      .default(sql`clock_timestamp()`),
  },
  (table) => [index('revocation_events_revoked_at_idx').on(table.revokedAt)],
);

export type User = typeof users.$inferSelect;
export type LinkTokenRow = typeof linkTokens.$inferSelect;
export type MailOutboxRow = typeof mailOutbox.$inferSelect;
export type AuditEventRow = typeof auditEvents.$inferSelect;
export type Session = typeof sessions.$inferSelect;
export type SigningKeyRow = typeof signingKeys.$inferSelect;
export type MfaTotpRow = typeof mfaTotp.$inferSelect;
export type MfaChallengeRow = typeof mfaChallenges.$inferSelect;
export type ServiceClientRow = typeof serviceClients.$inferSelect;
export type RevocationEventRow = typeof revocationEvents.$inferSelect;
