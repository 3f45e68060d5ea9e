import { Inject, Injectable } from '@nestjs/common';
import { type HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { DATABASE_CONNECTION, type DatabaseConnection } from '../database/database.types.js';

/** The probe's own bound on its lock wait and statements (server-side). */
const PROBE_TIMEOUT_MS = 1_000;
/** The whole check's bound: a pooled connection, the probe's round trips (a stalled server never answers). */
const CHECK_TIMEOUT_MS = 2_000;

/**
 * Reports whether the database can serve requests now: a real query on a
 * pooled connection, bounded — so a stopped, stalled, locked, read-only or
 * saturated database makes the instance not ready.
 */
@Injectable()
export class DatabaseHealthIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    @Inject(DATABASE_CONNECTION) private readonly connection: DatabaseConnection,
  ) {}

  private get server(): string {
    return this.connection.embedded ? 'embedded' : 'postgres';
  }

  async check(key = 'database'): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check(key);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.connection.probe(PROBE_TIMEOUT_MS),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), CHECK_TIMEOUT_MS);
        }),
      ]);
      return indicator.up({ server: this.server });
    } catch {
      return indicator.down({ server: this.server, message: 'unreachable' });
    } finally {
      clearTimeout(timer);
    }
  }
}
