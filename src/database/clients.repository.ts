import { Injectable } from '@nestjs/common';
import { eq } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import type { PageQuery } from '../common/pagination/keyset.js';
import type { Executor } from './database.types.js';
import { keysetPage } from './keyset-page.js';
import { type ServiceClientRow, serviceClients } from './schema.js';

/** Service clients (table service_clients). */
@Injectable()
export class ClientsRepository {
  async insert(
    db: Executor,
    input: { name: string; secretHash: Buffer; scopes: string[] },
  ): Promise<ServiceClientRow> {
    const [row] = await db
      .insert(serviceClients)
      .values({ id: uuidv7(), ...input })
      .returning();
    return row!;
  }

  async find(db: Executor, id: string): Promise<ServiceClientRow | undefined> {
    const [row] = await db.select().from(serviceClients).where(eq(serviceClients.id, id));
    return row;
  }

  /** One page, newest first (one row more than the page, to tell whether another follows). */
  async page(db: Executor, query: PageQuery): Promise<ServiceClientRow[]> {
    const page = keysetPage(serviceClients, query);
    return db
      .select()
      .from(serviceClients)
      .where(page.where())
      .orderBy(...page.orderBy)
      .limit(page.limit);
  }

  /** Deletes a client (its trigger records the deletion in the revocation feed); the row, or undefined. */
  async delete(db: Executor, id: string): Promise<ServiceClientRow | undefined> {
    const [row] = await db.delete(serviceClients).where(eq(serviceClients.id, id)).returning();
    return row;
  }
}
