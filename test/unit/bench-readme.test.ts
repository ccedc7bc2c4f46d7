/**
 * The README's Performance table is generated from bench/results/latest.json (bench/support/report.ts): this fails
 * when the two differ, so no figure or ✓ in it is typed by hand. Fix: `npx tsx bench/readme.ts` (from the stored
 * results) or `npm run bench` (measures again). Fast: no benchmark runs here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_END, BENCH_START, checkTargets, holds, readmeBlock, renderReadme, spliceReadme, type BenchResults } from '../../bench/support/report';

const ROOT = join(__dirname, '../..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const results = JSON.parse(readFileSync(join(ROOT, 'bench/results/latest.json'), 'utf8')) as BenchResults;

/** The README's `## Performance` section (up to the next `## `). */
function performanceSection(): string {
  const start = README.indexOf('\n## Performance\n');
  expect(start).toBeGreaterThanOrEqual(0);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end < 0 ? undefined : end);
}

describe('the README Performance table', () => {
  it('sits between the bench markers, once, inside the Performance section', () => {
    expect(README.split(BENCH_START)).toHaveLength(2);
    expect(README.split(BENCH_END)).toHaveLength(2);
    const section = performanceSection();
    expect(section.indexOf(BENCH_START)).toBeGreaterThanOrEqual(0);
    expect(section.indexOf(BENCH_END)).toBeGreaterThan(section.indexOf(BENCH_START));
  });

  it('is exactly what bench/results/latest.json renders (run `npx tsx bench/readme.ts` after a bench run)', () => {
    expect(readmeBlock(README)).toBe(renderReadme(results));
  });

  it("marks each target held or missed as the stored figure's value says, and lists every miss", () => {
    const figures = results.figures.map((f) => ({ ...f }));
    const missed = checkTargets(figures);
    expect(missed).toEqual(results.missed);
    for (const [i, f] of results.figures.entries()) {
      if (!f.target) expect(f.held).toBeUndefined();
      else expect(f.held).toBe(holds(figures[i].value, f.target));
    }
  });

  it('comes from a real run: the machine, the date, the command, the Terraform and the prices are recorded', () => {
    expect(results.machine).toMatch(/cores/);
    expect(Number.isNaN(Date.parse(results.at))).toBe(false);
    expect(results.command).toMatch(/^npm run bench/);
    expect(results.command).not.toMatch(/--quick/);
    expect(results.terraform).toMatch(/^Terraform \d+\.\d+\.\d+$/);
    for (const p of Object.values(results.prices)) {
      expect(p.usd).toBeGreaterThan(0);
      expect(p.source).toMatch(/^https:\/\//);
      expect(p.read).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
    expect(results.figures.filter((f) => f.target).length).toBeGreaterThan(10);
  });
});

describe('report rendering', () => {
  const base: BenchResults = {
    at: '2026-01-02T03:04:05.000Z',
    machine: '2 cores (x), 4 GB, node v20',
    command: 'npm run bench',
    repeats: 3,
    terraform: 'Terraform 1.11.4',
    prices: {},
    runnerImage: { compressedMb: 1, basis: ['b'] },
    figures: [
      { id: 'a', group: 'G', measure: 'm | pipe', value: 2, text: '2 ms', target: { op: '<=', value: 1, text: '≤ 1' } },
      { id: 'b', group: 'G', measure: 'n', value: true, text: 'yes', target: { op: '==', value: true, text: 'yes' } },
      { id: 'c', group: 'H', measure: 'o', value: null, text: 'info' },
    ],
    missed: [],
    raw: {},
  };

  it('checks targets, escapes pipes, and splices only between the markers', () => {
    const r = structuredClone(base);
    r.missed = checkTargets(r.figures);
    expect(r.missed).toEqual(['a']);
    const block = renderReadme(r);
    expect(block).toContain('| m \\| pipe | 2 ms | ≤ 1 | ✗ missed |');
    expect(block).toContain('| n | yes | yes | ✓ |');
    expect(block).toContain('| **H** | | | |');
    expect(block).toContain('1 of 2 targets held; missed: `a`');
    const doc = `before\n${BENCH_START}\nold\n${BENCH_END}\nafter\n`;
    const next = spliceReadme(doc, block);
    expect(next.startsWith(`before\n${BENCH_START}\n`)).toBe(true);
    expect(next.endsWith(`\n${BENCH_END}\nafter\n`)).toBe(true);
    expect(readmeBlock(next)).toBe(block);
    expect(() => spliceReadme('no markers', block)).toThrow(/bench:start/);
  });

  it('counts an unmeasured figure as a missed target', () => {
    expect(holds(null, { op: '<=', value: 1, text: '1' })).toBe(false);
    expect(holds(0, { op: '==', value: 0, text: '0' })).toBe(true);
    expect(holds(150, { op: '<', value: 150, text: '< 150' })).toBe(false);
  });
});
