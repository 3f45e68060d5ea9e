import { describe, inject } from 'vitest';

/** A suite that needs the PostgreSQL server: skipped (and said so at start) when it is not reachable. */
export const describeWithPostgres = describe.skipIf(!inject('postgresAvailable'));

/** A suite that needs PostgreSQL and Redis. */
export const describeWithPostgresAndRedis = describe.skipIf(
  !inject('postgresAvailable') || !inject('redisAvailable'),
);
