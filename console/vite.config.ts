import { defineConfig } from 'vite';

const here = (path: string) => new URL(path, import.meta.url).pathname;

/**
 * The web console: built into dist/console (by `npm run build`, so `npm start` serves it), where the
 * service's web-console module serves it at /console. No inline script or style anywhere, so that the
 * page runs under a Content-Security-Policy without 'unsafe-inline'.
 */
export default defineConfig({
  root: here('.'),
  base: '/console/',
  publicDir: here('public'),
  logLevel: 'warn',
  // Vite 8 transforms JSX itself (Oxc): Preact's automatic runtime.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: here('../dist/console'),
    emptyOutDir: true,
    // Scripts and styles as files, never inlined into index.html (CSP), nor as data: URLs.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: true,
    target: 'es2022',
  },
});
