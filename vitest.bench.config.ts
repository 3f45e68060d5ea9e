import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

// `npm run bench:smoke`: the quick benchmark run, alone (not part of `npm test`).
export default defineConfig({
  plugins: [swc.vite({ module: { type: 'es6' } })],
  test: {
    include: ['test/bench/**/*.test.ts'],
    testTimeout: 180_000,
    pool: 'forks',
  },
});
