/**
 * BENCH ONLY. The web console: the JavaScript a first visit downloads (the entry script and the chunks index.html
 * preloads, gzipped at level 9 as CloudFront would compress them; the pages that load on demand are not counted), and
 * how long pages take to render from the API against local mode (stand-in CLI), in Debian's Chromium: from navigation
 * to the page's content being on screen, median of runs. Prints one JSON line.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ensureConsoleBuilt } from '../../infra/console-build';
import type { StackJob } from '../../lambdas/domain/schemas';
import { launchChromium, requireChromium } from '../../test/support/chromium';
import { bucketChange, e2eConfig, endJobsAwaitingApproval, startE2E, TOKENS } from '../../test/support/e2e-harness';

const RUNS = Number(process.argv[2] ?? 5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const stat = (xs: number[]) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

/** The files a first visit loads: index.html's module script and modulepreload links (JS), and its stylesheets. */
export function initialAssets(dir: string): {
  js: Array<{ file: string; bytes: number; gzip: number }>;
  css: Array<{ file: string; bytes: number; gzip: number }>;
} {
  const html = readFileSync(join(dir, 'index.html'), 'utf8');
  const refs = (re: RegExp) => [...html.matchAll(re)].map((m) => m[1]!.replace(/^\//, ''));
  const size = (file: string) => {
    const body = readFileSync(join(dir, file));
    return { file, bytes: body.length, gzip: gzipSync(body, { level: 9 }).length };
  };
  const js = [...new Set([...refs(/<script[^>]+src="([^"]+)"/g), ...refs(/<link[^>]+rel="modulepreload"[^>]+href="([^"]+)"/g)])];
  return { js: js.map(size), css: refs(/<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"/g).map(size) };
}

async function main() {
  const build = ensureConsoleBuilt();
  const assets = initialAssets(build.dir);
  const chromium = requireChromium('bench/sections/console.section.ts');
  if (!chromium) throw new Error('Chromium is not installed (apt-get install chromium): render times not measured');
  const e = await startE2E(e2eConfig(), { consoleDir: build.dir });
  const browser = await launchChromium(chromium);
  try {
    // Twenty finished jobs and one waiting for approval: the list has a full page, the job page a plan to show.
    for (let i = 0; i < 20; i++) {
      const { body } = await e.call<StackJob>('POST', '/v1/stack-jobs', { body: bucketChange(`bench_console_${i}`, 'v1') });
      await e.waitFor(body.metadata.id, (j) => j.status.phase === 'completed', 60000);
    }
    const { body: waiting } = await e.call<StackJob>('POST', '/v1/stack-jobs', { body: bucketChange('bench_console_wait', 'v1', { env: 'prod' }) });
    await e.waitFor(waiting.metadata.id, (j) => j.status.phase === 'awaiting_approval', 60000);

    const page = await browser.newPage();
    await page.goto(`${e.local.apiUrl}/`);
    await page.getByLabel('Token').fill(TOKENS.approver);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: /^Jobs in / }).waitFor();
    // Waits in the page, at every frame: a locator's own waiting polls at growing intervals (up to 500 ms here), which
    // would be measured as render time.
    const shown = (text: string, role: 'a' | 'button') => () =>
      page.waitForFunction(
        ([t, r]) =>
          [
            ...(globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<{ textContent: string | null }> } }).document.querySelectorAll(r),
          ].some((el) => el.textContent === t),
        [text, role] as const,
        { polling: 'raf' },
      );
    const timed = async (url: string, ready: () => Promise<unknown>) => {
      const ms: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const t0 = Date.now();
        await page.goto(url);
        await ready();
        ms.push(Date.now() - t0);
      }
      return stat(ms);
    };
    const jobsPage = await timed(`${e.local.apiUrl}/jobs`, shown(waiting.metadata.id, 'a'));
    const jobPage = await timed(`${e.local.apiUrl}/jobs/${waiting.metadata.id}`, shown('Approve', 'button'));
    await endJobsAwaitingApproval(e);
    process.stdout.write(`\nBENCH_RESULT ${JSON.stringify({ assets, jobsPage, jobPage })}\n`);
  } finally {
    await browser.close();
    await e.stop();
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: Error) => {
      console.error(err.stack);
      process.exit(1);
    },
  );
}
