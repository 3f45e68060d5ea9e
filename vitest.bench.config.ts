import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

// `npm run bench:smoke`: the quick benchmark run, alone (not part of `npm test`).
export default mergeConfig(
  base,
  defineConfig({ test: { include: ['test/bench/**/*.test.ts'], exclude: [] } }),
);
