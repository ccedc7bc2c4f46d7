/** The entrypoint loads the runner bundle with the code cache its build made, and never fails because of that cache. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRunner } from '../../runner-image/build';
import { CODE_CACHE_FILE, RUNNER_MAIN_FILE } from '../../runner-image/src/boot';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'runner-boot-'));
  buildRunner(join(dir, 'runner.js'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Starts the runner as local mode does (same flags), with no configuration: it loads, runs, and exits naming what is missing. */
function startRunner() {
  const res = spawnSync(process.execPath, ['--enable-source-maps', join(dir, 'runner.js')], {
    env: { PATH: process.env.PATH, NODE_OPTIONS: '--openssl-legacy-provider' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: res.status, stderr: res.stderr };
}

it('writes the entrypoint, the bundle and a code cache for it', () => {
  expect(statSync(join(dir, 'runner.js')).size).toBeLessThan(10_000);
  expect(statSync(join(dir, RUNNER_MAIN_FILE)).size).toBeGreaterThan(1_000_000);
  expect(statSync(join(dir, CODE_CACHE_FILE)).size).toBeGreaterThan(100_000);
});

it('starts the runner with the cache accepted by the Node that runs it', () => {
  const { status, stderr } = startRunner();
  expect(stderr).not.toMatch(/code cache/);
  expect(status).toBe(2);
  expect(stderr).toMatch(/fatal: ConfigError: .*STACKJOBS_JOB_ID/);
});

it("builds the bundle's schemas without zod's compiled fast path (a one-shot process only pays for compiling it)", () => {
  // Loaded without starting: zod's global config (kept on globalThis) is what the schemas saw when they were built.
  const script = `const { loadRunnerMain } = require(${JSON.stringify(join(dir, 'runner.js'))}); loadRunnerMain(${JSON.stringify(dir)}); process.stdout.write(JSON.stringify(globalThis.__zod_globalConfig));`;
  const res = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
  expect(res.status).toBe(0);
  expect(JSON.parse(res.stdout)).toMatchObject({ jitless: true });
});

it('starts the runner all the same when the cache is damaged or missing, and says so for a damaged one', () => {
  writeFileSync(join(dir, CODE_CACHE_FILE), Buffer.alloc(4096, 7));
  const damaged = startRunner();
  expect(damaged.stderr).toMatch(/the code cache was rejected/);
  expect(damaged.status).toBe(2);
  expect(damaged.stderr).toMatch(/fatal: ConfigError: .*STACKJOBS_JOB_ID/);

  rmSync(join(dir, CODE_CACHE_FILE));
  expect(existsSync(join(dir, CODE_CACHE_FILE))).toBe(false);
  const missing = startRunner();
  expect(missing.stderr).not.toMatch(/code cache/);
  expect(missing.status).toBe(2);
  expect(missing.stderr).toMatch(/fatal: ConfigError: .*STACKJOBS_JOB_ID/);
});
