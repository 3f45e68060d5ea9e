import { Inject, Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service.js';
import { ApiError } from '../common/errors/api-error.js';
import type { ClientInfo } from '../common/http/client-info.js';
import type { PageQuery } from '../common/pagination/keyset.js';
import { ClientsRepository } from '../database/clients.repository.js';
import { DATABASE } from '../database/database.module.js';
import type { Database } from '../database/database.types.js';
import type { ServiceClientRow } from '../database/schema.js';
import type { ClientView, CreateClientBody, CreatedClientView } from './client.schemas.js';
import { clientSecretMatches, hashClientSecret, newClientSecret } from './client-secret.js';

/** Who acts on clients: an admin (the audit log's actor). */
export interface ClientsActor {
  actorId: string;
  client: ClientInfo;
}

/** An authenticated service client, as the /oauth routes see it. */
export interface AuthenticatedClient {
  id: string;
  scopes: string[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Service clients: the admin API, and client authentication for /oauth/*. */
@Injectable()
export class ClientsService {
  constructor(
    @Inject(DATABASE) private readonly db: Database,
    private readonly clients: ClientsRepository,
    private readonly audit: AuditService,
  ) {}

  /** A new client and its secret, which is returned this once and kept only as a hash. Audited. */
  async create(body: CreateClientBody, actor: ClientsActor): Promise<CreatedClientView> {
    const secret = newClientSecret();
    const row = await this.db.transaction(async (tx) => {
      const created = await this.clients.insert(tx, {
        name: body.name,
        secretHash: hashClientSecret(secret),
        scopes: body.scopes,
      });
      await this.audit.record(tx, {
        type: 'client_created',
        userId: null,
        actorId: actor.actorId,
        client: actor.client,
        detail: { clientId: created.id, name: created.name, scopes: created.scopes },
      });
      return created;
    });
    return { ...clientView(row), clientSecret: secret };
  }

  /** One page of rows (and one more: see finishPage); `clientView` shows each. */
  list(query: PageQuery): Promise<ServiceClientRow[]> {
    return this.clients.page(this.db, query);
  }

  /**
   * Deletes a client: it can no longer authenticate, and its tokens are inactive at once
   * (introspection finds no client; the trigger puts a `client_deleted` event in the feed). Audited.
   */
  async delete(id: string, actor: ClientsActor): Promise<void> {
    await this.db.transaction(async (tx) => {
      const gone = await this.clients.delete(tx, id);
      if (!gone) throw new ApiError('not_found', 'No service client has this id');
      await this.audit.record(tx, {
        type: 'client_deleted',
        userId: null,
        actorId: actor.actorId,
        client: actor.client,
        detail: { clientId: gone.id, name: gone.name, scopes: gone.scopes },
      });
    });
  }

  /**
   * The client whose id and secret these are, or undefined. The secret is compared in constant
   * time, and an unknown id costs the same hash and comparison as a known one.
   */
  async authenticate(clientId: string, secret: string): Promise<AuthenticatedClient | undefined> {
    const row = UUID.test(clientId) ? await this.clients.find(this.db, clientId) : undefined;
    if (!clientSecretMatches(secret, row?.secretHash) || !row) return undefined;
    return { id: row.id, scopes: row.scopes };
  }

  /** Whether a client exists now (its tokens are active only while it does). */
  async exists(clientId: string): Promise<boolean> {
    return UUID.test(clientId) && (await this.clients.find(this.db, clientId)) !== undefined;
  }
}

/** What the API shows of a client: never its secret's hash. */
export function clientView(row: ServiceClientRow): ClientView {
  return { clientId: row.id, name: row.name, scopes: row.scopes, createdAt: row.createdAt.toISOString() };
}
