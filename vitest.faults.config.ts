import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

/**
 * Fault injection and soak runs — real service processes (`node dist/main.js`)
 * under load while their database or Redis is stopped, or while they are
 * killed. Not part of `npm test` (its pattern, test/**\/*.test.ts, matches
 * none of these files):
 *
 *   vitest run --config vitest.faults.config.ts              test/faults/*.fault.ts (~3 min)
 *   vitest run --config vitest.faults.config.ts --mode soak  test/soak/*.soak.ts (SOAK_SECONDS, default 600)
 *
 * Files run one at a time: each one loads the machine (2 cores) on purpose,
 * and their timings (recovery, exit) mean something only when they do not
 * compete with each other.
 */
export default defineConfig(({ mode }) => ({
  plugins: [swc.vite({ module: { type: 'es6' } })],
  test: {
    include: mode === 'soak' ? ['test/soak/**/*.soak.ts'] : ['test/faults/**/*.fault.ts'],
    globalSetup: ['test/support/faults-setup.ts'],
    fileParallelism: false,
    pool: 'forks',
    // The soak sets its own timeout from SOAK_SECONDS.
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
}));
