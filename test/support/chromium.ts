/**
 * Debian's Chromium, driven by playwright-core, for the console's browser tests (Playwright's own browser download
 * does not work on these machines; `.ci/run` installs the `chromium` package). Without it a suite says so in one loud
 * line and does not run; in CI it fails instead.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.STACKJOBS_CHROMIUM ?? '/usr/bin/chromium';

export function requireChromium(suite: string): string | undefined {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  const line = `!!! NO CHROMIUM at ${CHROMIUM}: the console's browser suite (${suite}) did not run (apt-get install chromium) !!!`;
  process.stderr.write(`\n${line}\n\n`);
  if (process.env.CI === 'true') throw new Error(`${line} (CI requires it: .ci/run installs it)`);
  return undefined;
}

/** Headless, a fresh profile (Playwright's), no sandbox (tests run as root), and none of Chromium's own network traffic (this machine's network is closed). */
export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
