import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

// SWC (not esbuild) compiles the tests so that decorator metadata
// (design:paramtypes) exists: Nest's dependency injection relies on it.
export default defineConfig({
  plugins: [swc.vite({ module: { type: 'es6' } })],
  // The workspace's kit from its source, as the root tsconfig's `paths` has it.
  resolve: {
    alias: { '@gatehouse/nest': fileURLToPath(new URL('packages/nest/src/index.ts', import.meta.url)) },
  },
  test: {
    include: ['test/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
    // The bench smoke run loads the machine; it runs on its own (`npm run bench:smoke`).
    exclude: ['test/bench/**', 'node_modules/**'],
    globalSetup: ['test/support/global-setup.ts'],
    // A worker keeps its modules from one file to the next (isolate: false): a third less time than
    // importing Nest and the app again per file. What a file may leave behind — a faked clock, mocks,
    // stubbed globals or env — is undone after it (real-clock.ts, unstub*).
    isolate: false,
    setupFiles: ['test/support/real-clock.ts'],
    unstubGlobals: true,
    unstubEnvs: true,
    // Bounds for a hung test, not speed checks: the suite must pass while other work keeps both
    // cores busy, where 200 argon2 hashes or a service process's start take many times longer.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Most test files spend their time waiting on a database or a service process, not on a core:
    // more files than cores at once (Vitest's default is one fewer than the cores, 1 on 2).
    maxWorkers: Math.max(availableParallelism() - 1, 3),
  },
});
