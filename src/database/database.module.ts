import { type DynamicModule, Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { openDatabase } from './database.connection.js';
import { DATABASE_CONNECTION, type DatabaseConnection } from './database.types.js';

export const DATABASE = Symbol('DATABASE');

/**
 * Provides the open connection (DATABASE_CONNECTION) and its Drizzle handle
 * (DATABASE). Tests hand in a connection to a copy of a migrated template.
 */
@Global()
@Module({})
export class DatabaseModule implements OnApplicationShutdown {
  constructor(@Inject(DATABASE_CONNECTION) private readonly connection: DatabaseConnection) {}

  static forRoot(connection?: DatabaseConnection): DynamicModule {
    return {
      module: DatabaseModule,
      providers: [
        connection
          ? { provide: DATABASE_CONNECTION, useValue: connection }
          : {
              provide: DATABASE_CONNECTION,
              inject: [APP_CONFIG],
              useFactory: (config: AppConfig) => openDatabase(config.database),
            },
        {
          provide: DATABASE,
          inject: [DATABASE_CONNECTION],
          useFactory: (connection: DatabaseConnection) => connection.db,
        },
      ],
      exports: [DATABASE_CONNECTION, DATABASE],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.connection.close();
  }
}
