import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The layers of src/, lowest first (docs: DESIGN.md). A module may import
 * itself and any module of a lower layer: never upward, never sideways
 * (modules of one layer do not know each other). `app` is src/'s own files:
 * app.module, app.factory, main, cli, migrate.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['config'],
  ['common', 'logging'],
  ['access'],
  ['database', 'redis'],
  ['passwords', 'keys', 'audit', 'throttling', 'mail'],
  ['sessions', 'retention'],
  ['users', 'key-admin', 'clients'],
  ['mfa'],
  ['auth', 'oauth'],
  ['health', 'metrics', 'docs', 'cli', 'discovery', 'web-console'],
  ['app'],
];

type Graph = Map<string, string[]>;

const SRC = resolve(import.meta.dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

/** Every file of src/ and the files of src/ it imports (type-only imports included), as paths under src/. */
function importGraph(): Graph {
  const graph: Graph = new Map();
  for (const file of sourceFiles(SRC)) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = importedFiles
      .map((imported) => imported.fileName)
      .filter((name) => name.startsWith('.'))
      .map((name) => relative(SRC, resolve(dirname(file), name.replace(/\.js$/, '.ts'))));
    graph.set(relative(SRC, file), targets);
  }
  return graph;
}

const moduleOf = (path: string): string => (path.includes('/') ? path.split('/')[0]! : 'app');

/** "a imports b" for each import that does not point down the layers. */
function forbiddenImports(graph: Graph, layers: readonly (readonly string[])[]): string[] {
  const layerOf = (module: string) => layers.findIndex((layer) => layer.includes(module));
  const found: string[] = [];
  for (const [file, targets] of graph) {
    for (const target of targets) {
      const [from, to] = [moduleOf(file), moduleOf(target)];
      if (from !== to && layerOf(to) >= layerOf(from)) {
        found.push(`${file} (${from}) imports ${target} (${to})`);
      }
    }
  }
  return found;
}

/** One import cycle between files, as the path around it; undefined when there is none. */
function findCycle(graph: Graph): string[] | undefined {
  const done = new Set<string>();
  const stack: string[] = [];
  const visit = (file: string): string[] | undefined => {
    const open = stack.indexOf(file);
    if (open !== -1) return [...stack.slice(open), file];
    if (done.has(file)) return undefined;
    stack.push(file);
    for (const target of graph.get(file) ?? []) {
      const cycle = visit(target);
      if (cycle) return cycle;
    }
    stack.pop();
    done.add(file);
    return undefined;
  };
  for (const file of graph.keys()) {
    const cycle = visit(file);
    if (cycle) return cycle;
  }
  return undefined;
}

describe('import layers of src/', () => {
  const graph = importGraph();

  it('places every module of src/ in a layer', () => {
    const modules = new Set([...graph.keys()].map(moduleOf));
    expect([...modules].filter((module) => !LAYERS.flat().includes(module))).toEqual([]);
  });

  it('imports only down the layers', () => {
    expect(forbiddenImports(graph, LAYERS)).toEqual([]);
  });

  it('has no import cycle between files', () => {
    expect(findCycle(graph)).toBeUndefined();
  });

  it('resolves every relative import to a file of src/', () => {
    const missing = [...graph].flatMap(([file, targets]) =>
      targets.filter((target) => !graph.has(target)).map((target) => `${file} -> ${target}`),
    );
    expect(missing).toEqual([]);
  });
});

describe('the checks themselves', () => {
  const layers = [['config'], ['keys', 'audit'], ['auth']];

  it('flag an upward and a sideways import, not a downward one', () => {
    const graph: Graph = new Map([
      ['config/a.ts', ['auth/b.ts']],
      ['keys/c.ts', ['audit/d.ts', 'config/a.ts', 'keys/e.ts']],
      ['auth/b.ts', ['keys/c.ts']],
    ]);
    expect(forbiddenImports(graph, layers)).toEqual([
      'config/a.ts (config) imports auth/b.ts (auth)',
      'keys/c.ts (keys) imports audit/d.ts (audit)',
    ]);
  });

  it('find a cycle', () => {
    const graph: Graph = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
    ]);
    expect(findCycle(graph)).toEqual(['a.ts', 'b.ts', 'c.ts', 'a.ts']);
    expect(findCycle(new Map([['a.ts', ['b.ts']]]))).toBeUndefined();
  });
});
