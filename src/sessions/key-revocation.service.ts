import { Inject, Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service.js';
import type { ClientInfo } from '../common/http/client-info.js';
import { DATABASE } from '../database/database.module.js';
import type { Database } from '../database/database.types.js';
import { SessionsRepository } from '../database/sessions.repository.js';
import { type KeyRevocation, SigningKeysService } from '../keys/signing-keys.service.js';
import { AuthStateService } from './auth-state.service.js';

export interface KeyRevocationOutcome extends KeyRevocation {
  /** Sessions signed out (with `endSessions`). */
  sessionsEnded: number;
}

/**
 * Revokes a compromised signing key: from the commit on, no instance accepts
 * a token it signed or publishes it (the trigger of migration 0006 tells the
 * others; this one reloads at once), and if it was the key signing, a fresh
 * key signs in its place. With `endSessions`, every session that may have been
 * given an access token signed by it — opened before the key stopped signing
 * and used (signin or refresh) after it started — is signed out too, in the
 * same transaction, as is the audit event.
 */
@Injectable()
export class KeyRevocationService {
  constructor(
    @Inject(DATABASE) private readonly db: Database,
    private readonly keys: SigningKeysService,
    private readonly sessions: SessionsRepository,
    private readonly audit: AuditService,
    private readonly authState: AuthStateService,
  ) {}

  /**
   * Undefined when no key has this kid. `actorId` and `client`: the admin who
   * asked and from where, or null and none (the command line).
   */
  async revoke(
    kid: string,
    options: { endSessions?: boolean; actorId?: string | null; client?: ClientInfo } = {},
  ): Promise<KeyRevocationOutcome | undefined> {
    const signedOut = new Set<string>();
    const outcome = await this.db.transaction(async (tx) => {
      signedOut.clear(); // a run retried after a deadlock starts again
      const at = new Date();
      const revocation = await this.keys.revokeIn(tx, kid, at);
      if (!revocation || revocation.alreadyRevoked) return revocation && { ...revocation, sessionsEnded: 0 };
      const window = revocation.signedBetween;
      const ended =
        options.endSessions && window
          ? await this.sessions.revokeIssuedBetween(tx, window.from, window.to, 'signing_key_revoked', at)
          : [];
      const actorId = options.actorId ?? null;
      await this.audit.record(tx, {
        type: 'signing_key_revoked',
        userId: null,
        actorId,
        client: options.client,
        detail: {
          kid,
          alg: revocation.alg,
          replacedBy: revocation.replacedBy ?? null,
          sessionsEnded: ended.length,
        },
      });
      // Each signed-out user finds it in their own events.
      const byUser = new Map<string, number>();
      for (const session of ended) byUser.set(session.userId, (byUser.get(session.userId) ?? 0) + 1);
      for (const [userId, count] of byUser) {
        signedOut.add(userId);
        await this.audit.record(tx, {
          type: 'session_revoked',
          userId,
          actorId,
          client: options.client,
          detail: { sessions: count, reason: 'signing_key_revoked', kid },
        });
      }
      return { ...revocation, sessionsEnded: ended.length };
    });
    if (outcome && !outcome.alreadyRevoked) {
      await this.keys.reload();
      for (const userId of signedOut) this.authState.invalidateUser(userId);
    }
    return outcome;
  }
}
