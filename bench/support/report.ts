/**
 * BENCH ONLY. The bench's results as figures (each a value, and a target where the project states one), the check of
 * each target, and the README's Performance table rendered from bench/results/latest.json. The README holds that table
 * between BENCH_START and BENCH_END; `npm run bench` rewrites it, `npx tsx bench/readme.ts` does it from the stored
 * results, and test/unit/bench-readme.test.ts fails when the two differ.
 */
import type { Price } from './prices';

export type Op = '<=' | '<' | '==' | '>=';

export interface Target {
  op: Op;
  value: number | boolean;
  /** As the table shows it, e.g. "≤ 1.5×". */
  text: string;
}

export interface Figure {
  id: string;
  /** The table's section (a bold row above its figures). */
  group: string;
  measure: string;
  /** What the target is checked against (null: not measured). */
  value: number | boolean | null;
  /** As the table shows it. */
  text: string;
  target?: Target;
  /** Whether the target held (absent without a target). */
  held?: boolean;
}

export interface BenchResults {
  at: string;
  machine: string;
  command: string;
  repeats: number;
  terraform: string;
  prices: Record<string, Price>;
  runnerImage: { compressedMb: number; basis: readonly string[] };
  figures: Figure[];
  /** Ids of the figures whose target did not hold. */
  missed: string[];
  /** Everything the sections returned, for whoever wants more than the table. */
  raw: Record<string, unknown>;
}

export function holds(value: Figure['value'], target: Target): boolean {
  if (value === null) return false;
  if (typeof target.value === 'boolean' || typeof value === 'boolean') return value === target.value;
  switch (target.op) {
    case '<=':
      return value <= target.value;
    case '<':
      return value < target.value;
    case '>=':
      return value >= target.value;
    case '==':
      return value === target.value;
  }
}

/** Sets `held` on every figure with a target and returns the ids of those that missed. */
export function checkTargets(figures: Figure[]): string[] {
  for (const f of figures) if (f.target) f.held = holds(f.value, f.target);
  return figures.filter((f) => f.target && !f.held).map((f) => f.id);
}

export const BENCH_START = '<!-- bench:start -->';
export const BENCH_END = '<!-- bench:end -->';

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** `$0.000123` with enough digits for sub-cent figures. */
export const usd = (x: number) => `$${x < 0.01 ? x.toFixed(6) : x.toFixed(4)}`;

function priceText(p: Price): string {
  return p.usd < 1e-4 ? `$${Number((p.usd * 1e6).toPrecision(6))} per million` : `$${p.usd} each`;
}
const sentence = (s: string) => `${s.charAt(0).toUpperCase()}${s.slice(1)}${/[.)]$/.test(s) ? '' : '.'}`;

/** The generated part of the README's Performance section (between the markers, markers excluded). */
export function renderReadme(r: BenchResults): string {
  const lines: string[] = [];
  const held = r.figures.filter((f) => f.target && f.held).length;
  const targets = r.figures.filter((f) => f.target).length;
  lines.push(
    `Generated from \`bench/results/latest.json\` (\`${r.command}\`, ${r.at.slice(0, 10)}; ${r.machine}; ${r.terraform}; timings are the median [min..max] of ${r.repeats} runs). ` +
      `**${held} of ${targets} targets held${r.missed.length ? `; missed: ${r.missed.map((id) => `\`${id}\``).join(', ')}` : ''}.**`,
  );
  lines.push('');
  lines.push('| measure | value | target | held |');
  lines.push('|---|---|---|---|');
  let group = '';
  for (const f of r.figures) {
    if (f.group !== group) {
      group = f.group;
      lines.push(`| **${cell(group)}** | | | |`);
    }
    lines.push(`| ${cell(f.measure)} | ${cell(f.text)} | ${f.target ? cell(f.target.text) : ''} | ${f.target ? (f.held ? '✓' : '✗ missed') : ''} |`);
  }
  lines.push('');
  lines.push('Prices (US East (N. Virginia) list prices, no free tier; the page that publishes each, where its figure was read, and when):');
  lines.push('');
  for (const [name, p] of Object.entries(r.prices))
    lines.push(
      `- \`${name}\`, ${p.unit}: ${priceText(p)}. Source ${p.source}; figure read from ${p.figureFrom}; ${p.read}.${p.note ? ` ${sentence(p.note)}` : ''}`,
    );
  lines.push(
    `- Runner image: ${r.runnerImage.compressedMb} MB compressed, pulled by every Fargate task, ASSUMED (not measured: no Docker on the bench machine): ${r.runnerImage.basis.join('; ')}.`,
  );
  return lines.join('\n');
}

/** The README's generated block (between the markers), or undefined when the markers are missing. */
export function readmeBlock(readme: string): string | undefined {
  const a = readme.indexOf(BENCH_START);
  const b = readme.indexOf(BENCH_END);
  if (a < 0 || b < a) return undefined;
  return readme
    .slice(a + BENCH_START.length, b)
    .replace(/^\n/, '')
    .replace(/\n$/, '');
}

/** `readme` with its generated block replaced by `block`. */
export function spliceReadme(readme: string, block: string): string {
  const a = readme.indexOf(BENCH_START);
  const b = readme.indexOf(BENCH_END);
  if (a < 0 || b < a) throw new Error(`README.md has no ${BENCH_START} ... ${BENCH_END} block in its Performance section`);
  return `${readme.slice(0, a + BENCH_START.length)}\n${block}\n${readme.slice(b)}`;
}
