import type { Measurement } from './load.js';
import { round } from './load.js';

export type BaselineName = 'bare-http' | 'bare-jwt';

/** One line of the table: one measured run. */
export interface Row {
  scenario: string;
  run: number;
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  non2xx: number;
  errors: number;
  /** The baseline run this one alternated with (its ratio uses that run; the other ratio the baseline's mean). */
  pairedWith?: { baseline: BaselineName; run: number };
  /** rps / bare-http rps, rps / bare-jwt rps. */
  vsHttp?: number;
  vsJwt?: number;
  note?: string;
  statuses?: Record<string, number>;
  /** Sent at a fixed rate (a latency probe): req/s is the rate asked for, so no ratio. */
  fixedRate?: boolean;
}

export interface Check {
  target: string;
  goal: string;
  measured: string;
  /** null: a figure reported without a target. */
  met: boolean | null;
}

/** Everything measured on one database (embedded or PostgreSQL). */
export class Section {
  readonly rows: Row[] = [];
  readonly scenarios: Record<string, unknown> = {};
  readonly checks: Check[] = [];
  readonly notes: string[] = [];

  constructor(readonly name: string) {}

  add(scenario: string, run: number, m: Measurement, extra: Partial<Row> = {}): Row {
    const row: Row = {
      scenario,
      run,
      rps: m.rps,
      p50: m.p50,
      p99: m.p99,
      ok: m.ok,
      non2xx: m.non2xx,
      errors: m.errors,
      ...(Object.keys(m.statuses).length > 0 ? { statuses: m.statuses } : {}),
      ...extra,
    };
    this.rows.push(row);
    const line =
      `  ${this.name.padEnd(9)} ${scenario.padEnd(22)} #${run}  ${fmt(row.rps, 0).padStart(7)} req/s` +
      `  p50 ${fmt(row.p50).padStart(7)}  p99 ${fmt(row.p99).padStart(8)} ms` +
      (row.non2xx || row.errors ? `  non-2xx ${row.non2xx} errors ${row.errors}` : '') +
      (row.note ? `  (${row.note})` : '');
    console.log(line);
    return row;
  }

  runsOf(scenario: string): Row[] {
    return this.rows.filter((row) => row.scenario === scenario);
  }

  meanRps(scenario: string): number | undefined {
    const runs = this.runsOf(scenario);
    return runs.length ? runs.reduce((sum, row) => sum + row.rps, 0) / runs.length : undefined;
  }

  /** Fills vsHttp/vsJwt: the paired baseline run when there is one, else the baseline's mean in this section. */
  computeRatios(): void {
    for (const row of this.rows) {
      if (row.scenario === 'bare-http' || row.scenario === 'bare-jwt' || row.fixedRate) continue;
      for (const baseline of ['bare-http', 'bare-jwt'] as const) {
        const paired =
          row.pairedWith?.baseline === baseline
            ? this.runsOf(baseline).find((b) => b.run === row.pairedWith!.run)?.rps
            : undefined;
        const reference = paired ?? this.meanRps(baseline);
        if (!reference) continue;
        const ratio = round(row.rps / reference, 3);
        if (baseline === 'bare-http') row.vsHttp = ratio;
        else row.vsJwt = ratio;
      }
    }
  }

  check(target: string, goal: string, measured: string, met: boolean | null): void {
    this.checks.push({ target, goal, measured, met });
  }
}

export function fmt(value: number | undefined, digits = 2): string {
  if (value === undefined || Number.isNaN(value)) return '–';
  return value.toFixed(digits);
}

function pct(value: number | undefined): string {
  return value === undefined ? '–' : `${(value * 100).toFixed(0)} %`;
}

/** The one table: every section's rows, then the targets of the issue. */
export function renderTable(sections: Section[]): string {
  const header = [
    'database',
    'scenario',
    'run',
    'req/s',
    'p50 ms',
    'p99 ms',
    'vs bare-http',
    'vs bare-jwt',
    'note',
  ];
  const lines: string[][] = [];
  for (const section of sections) {
    for (const row of section.rows) {
      const noRatio = row.scenario === 'bare-http' || row.scenario === 'bare-jwt' || row.fixedRate;
      const problems = row.non2xx || row.errors ? `non-2xx ${row.non2xx}, errors ${row.errors}` : '';
      lines.push([
        section.name,
        row.scenario,
        String(row.run),
        fmt(row.rps, 0),
        fmt(row.p50),
        fmt(row.p99),
        noRatio ? '' : pct(row.vsHttp),
        noRatio ? '' : pct(row.vsJwt),
        [row.note, problems].filter(Boolean).join('; '),
      ]);
    }
  }
  const out = [table(header, lines, [false, false, true, true, true, true, true, true, false])];
  const checks = sections.flatMap((section) =>
    section.checks.map((check) => ({ section: section.name, ...check })),
  );
  if (checks.length) {
    out.push('');
    out.push(
      table(
        ['database', 'target', 'goal', 'measured', 'met'],
        checks.map((c) => [
          c.section,
          c.target,
          c.goal,
          c.measured,
          c.met === null ? '–' : c.met ? 'yes' : 'NO',
        ]),
        [false, false, false, false, false],
      ),
    );
  }
  return out.join('\n');
}

function table(header: string[], rows: string[][], rightAlign: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    '| ' +
    cells
      .map((cell, i) => (rightAlign[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join(' | ') +
    ' |';
  const rule =
    '|' + widths.map((w, i) => (rightAlign[i] ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') + '|';
  return [line(header), rule, ...rows.map(line)].join('\n');
}
