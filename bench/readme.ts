/**
 * Rewrites the README's Performance table (between <!-- bench:start --> and <!-- bench:end -->) from
 * bench/results/latest.json, without running the bench: `npx tsx bench/readme.ts` (`--check` only says whether it differs).
 * `npm run bench` does the same at its end.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readmeBlock, renderReadme, spliceReadme, type BenchResults } from './support/report';

export const README = join(__dirname, '..', 'README.md');
export const LATEST = join(__dirname, 'results', 'latest.json');

/** Writes the table of `results` (default: latest.json) into the README; returns whether the README changed. */
export function updateReadme(results: BenchResults = JSON.parse(readFileSync(LATEST, 'utf8')) as BenchResults): boolean {
  const readme = readFileSync(README, 'utf8');
  const next = spliceReadme(readme, renderReadme(results));
  if (next === readme) return false;
  writeFileSync(README, next);
  return true;
}

if (require.main === module) {
  if (process.argv.includes('--check')) {
    const same = readmeBlock(readFileSync(README, 'utf8')) === renderReadme(JSON.parse(readFileSync(LATEST, 'utf8')) as BenchResults);
    console.log(same ? 'README.md matches bench/results/latest.json' : 'README.md differs from bench/results/latest.json: run npx tsx bench/readme.ts');
    process.exit(same ? 0 : 1);
  }
  console.log(updateReadme() ? 'README.md: Performance table rewritten from bench/results/latest.json' : 'README.md already matches bench/results/latest.json');
}
