import type { TestProject } from 'vitest/node';
import type {} from './global-setup.js'; // the ProvidedContext keys (postgresAvailable, redisAvailable)
import { buildService } from './process.js';
import { POSTGRES_URL, postgresReachable, redisReachable } from './services.js';

/**
 * Global set-up of the fault-injection and soak runs (vitest.faults.config.ts):
 * builds dist/ once, and says whether the shared PostgreSQL and Redis servers
 * answer. Those are never stopped by these runs: the faults stop private
 * servers the tests start themselves (test/support/private-servers.ts); the
 * shared PostgreSQL only hosts throw-away databases.
 */
export default async function setup(project: TestProject): Promise<void> {
  buildService();
  process.env.GATEHOUSE_TEST_BUILT = '1'; // inherited by the test workers: they never rebuild

  const [postgres, redis] = await Promise.all([postgresReachable(), redisReachable()]);
  project.provide('postgresAvailable', postgres);
  project.provide('redisAvailable', redis);
  if (!postgres) {
    if (process.env.GATEHOUSE_REQUIRE_SERVICES) {
      throw new Error(
        `PostgreSQL is not reachable at ${POSTGRES_URL}, and GATEHOUSE_REQUIRE_SERVICES is set (CI).`,
      );
    }
    console.warn(
      `\n⚠ PostgreSQL is not reachable at ${POSTGRES_URL} (TEST_POSTGRES_URL): the fault tests that ` +
        'need a throw-away database on it run on the embedded database only, or are SKIPPED.\n',
    );
  }
}
