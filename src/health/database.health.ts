import { Inject, Injectable } from '@nestjs/common';
import { type HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { DATABASE_CONNECTION, type DatabaseConnection } from '../database/database.types.js';

const PING_TIMEOUT_MS = 2_000;

/** Reports whether the database answers a trivial query in time. */
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
        this.connection.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), PING_TIMEOUT_MS);
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
