import { Inject, Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service.js';
import { ApiError } from '../common/errors/api-error.js';
import type { ClientInfo } from '../common/http/client-info.js';
import { DATABASE } from '../database/database.module.js';
import type { Database } from '../database/database.types.js';
import { SigningKeysService } from '../keys/signing-keys.service.js';
import { KeyRevocationService } from '../sessions/key-revocation.service.js';
import type { KeyRevocationView, KeyRotationView } from './key-admin.schemas.js';

/** Who asks: an admin over HTTP, or the command line (no actor, no client). */
export interface KeyAdminActor {
  actorId: string | null;
  client?: ClientInfo;
}

/**
 * Key rotation and revocation on the running service, audited, for the admin
 * API and the command line alike. Every instance sharing the database hears
 * of the change at the commit (the signing_keys trigger notifies them).
 */
@Injectable()
export class KeyAdminService {
  constructor(
    @Inject(DATABASE) private readonly db: Database,
    private readonly keys: SigningKeysService,
    private readonly revocation: KeyRevocationService,
    private readonly audit: AuditService,
  ) {}

  /** A staged rotation; 409 `rotation_pending` while the key of the previous one has not started signing. */
  async rotate(actor: KeyAdminActor): Promise<KeyRotationView> {
    const rotation = await this.db.transaction(async (tx) => {
      const added = await this.keys.rotateIn(tx);
      if (added.pending) {
        throw new ApiError(
          'rotation_pending',
          `A rotation is under way: key ${added.kid} signs from ${added.activatesAt.toISOString()} ` +
            '(revoke it first to start another)',
        );
      }
      await this.audit.record(tx, {
        type: 'signing_key_rotated',
        userId: null,
        actorId: actor.actorId,
        client: actor.client,
        detail: { kid: added.kid, alg: added.alg, activatesAt: added.activatesAt.toISOString() },
      });
      return added;
    });
    await this.keys.reload();
    return { kid: rotation.kid, alg: rotation.alg, activatesAt: rotation.activatesAt.toISOString() };
  }

  /** Revokes a key at once (see KeyRevocationService); 404 for a kid no key has. */
  async revoke(
    kid: string,
    options: { endSessions?: boolean },
    actor: KeyAdminActor,
  ): Promise<KeyRevocationView> {
    const outcome = await this.revocation.revoke(kid, { endSessions: options.endSessions, ...actor });
    if (!outcome) throw new ApiError('not_found', 'No signing key has this kid');
    return {
      kid: outcome.kid,
      alg: outcome.alg,
      alreadyRevoked: outcome.alreadyRevoked,
      replacedBy: outcome.replacedBy ?? null,
      sessionsEnded: outcome.sessionsEnded,
    };
  }
}
