/**
 * The README's way to run the CLI cannot download anything. `stackjobs` is not a published package, and a bare
 * `npx stackjobs` outside a clone asks the npm registry for that name and, without a terminal to prompt on, installs
 * and runs whatever is published under it. The documented `npx --no -- stackjobs` never installs: outside a clone it
 * stops with an error, inside one it runs this repository's bin. Every npm run here is isolated from the machine's npm
 * configuration (an empty user and global npmrc, its own cache and global prefix) and talks only to loopback.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';

const ROOT = join(__dirname, '../..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
/** Nothing listens on the discard port: a registry request there is refused at once. */
const CLOSED_REGISTRY = 'http://127.0.0.1:9';

/** The words before the subcommand in the first command of the README's CLI block, e.g. `npx --no -- stackjobs`. */
function documentedForm(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### The `stackjobs` CLI'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1];
  const line = block.split('\n').find((l) => /\bstackjobs\b/.test(l) && !l.startsWith('export '))!;
  const words = line.trim().split(/\s+/);
  while (/^[A-Z_]+=/.test(words[0])) words.shift();
  return words.slice(0, words.indexOf('stackjobs') + 1);
}
const FORM = documentedForm();

let dir: string;
let outside: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stackjobs-npx-'));
  outside = join(dir, 'work');
  mkdirSync(outside);
  writeFileSync(join(dir, 'npmrc'), '');
  writeFileSync(join(dir, 'global-npmrc'), '');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs npx with the caller's PATH and HOME but none of the npm settings of the machine or of a surrounding `npm run`:
 * stdin is not a terminal (so a bare npx would install without asking), retries are off (a refused registry fails at
 * once, not after a minute of back-off), and the global prefix is empty (no `npm link`ed stackjobs to find).
 */
function npx(args: string[], o: { cwd: string; registry: string; cache: string }): Promise<Run> {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_|INIT_CWD$|NODE_OPTIONS$)/i.test(k)));
  Object.assign(env, {
    npm_config_registry: o.registry,
    npm_config_cache: o.cache,
    npm_config_userconfig: join(dir, 'npmrc'),
    npm_config_globalconfig: join(dir, 'global-npmrc'),
    npm_config_prefix: join(dir, 'global'),
    npm_config_fetch_retries: '0',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  });
  return new Promise((resolve, reject) => {
    const child = spawn('npx', args, { cwd: o.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 45000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Packages npx installed into its cache (`<cache>/_npx/<hash>/node_modules/<name>`). */
function installedByNpx(cache: string): string[] {
  const npxDir = join(cache, '_npx');
  if (!existsSync(npxDir)) return [];
  return readdirSync(npxDir).flatMap((hash) => {
    const modules = join(npxDir, hash, 'node_modules');
    return existsSync(modules) ? readdirSync(modules).filter((name) => !name.startsWith('.')) : [];
  });
}

/** A registry on loopback where someone has published `stackjobs`: it serves the metadata and records every request. */
async function squattedRegistry(): Promise<{ url: string; requests: string[]; server: Server }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (req.url === '/stackjobs') {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          name: 'stackjobs',
          'dist-tags': { latest: '9.9.9' },
          versions: {
            '9.9.9': { name: 'stackjobs', version: '9.9.9', bin: { stackjobs: 'evil.js' }, dist: { tarball: `${url}/stackjobs/-/stackjobs-9.9.9.tgz` } },
          },
        }),
      );
      return;
    }
    // The tarball is never served: even the control below downloads nothing it could run.
    res.statusCode = 404;
    res.end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, server };
}

it('the README runs the CLI as npx that never installs, with `--` so every option reaches stackjobs', () => {
  expect(FORM).toEqual(['npx', '--no', '--', 'stackjobs']);
  // Every npx invocation of stackjobs in the docs uses that form (a bare `npx stackjobs` is the unsafe one).
  const docs = ['README.md', 'CONTRIBUTING.md', ...readdirSync(join(ROOT, 'examples'), { recursive: true, encoding: 'utf8' }).map((f) => join('examples', f))];
  const uses = docs
    .filter((f) => /\.(md|ya?ml|sh|txt)$/.test(f))
    .flatMap((f) => [...readFileSync(join(ROOT, f), 'utf8').matchAll(/\bnpx(?:\s+-\S*)*\s+stackjobs\b/g)].map((m) => `${f}: ${m[0]}`));
  expect(uses.length).toBeGreaterThanOrEqual(10);
  expect(uses.filter((u) => !u.endsWith(`: ${FORM.join(' ')}`))).toEqual([]);
});

describe('outside the repository', () => {
  beforeAll(() => {
    // Outside any npm project: no package.json or node_modules in the directory or above it.
    expect(`${outside}${sep}`.startsWith(`${ROOT}${sep}`)).toBe(false);
    for (let d = outside; d !== dirname(d); d = dirname(d)) {
      expect([join(d, 'package.json'), join(d, 'node_modules')].filter(existsSync)).toEqual([]);
    }
  });

  it('exits non-zero without installing anything when the registry cannot be reached', async () => {
    const cache = join(dir, 'cache-closed');
    const run = await npx([...FORM.slice(1), '--version'], { cwd: outside, registry: CLOSED_REGISTRY, cache });
    expect(run.status).not.toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('ECONNREFUSED');
    expect(installedByNpx(cache)).toEqual([]);
  });

  it('refuses to install a `stackjobs` that someone published, and never asks for its tarball', async () => {
    const registry = await squattedRegistry();
    try {
      const cache = join(dir, 'cache-squatted');
      const run = await npx([...FORM.slice(1), '--version'], { cwd: outside, registry: registry.url, cache });
      expect(run.status).not.toBe(0);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain('npx canceled due to missing packages and no YES option: ["stackjobs@9.9.9"]');
      expect(registry.requests.filter((r) => r.includes('.tgz'))).toEqual([]);
      expect(installedByNpx(cache)).toEqual([]);

      // The control: a bare `npx stackjobs` does go for the tarball (here it gets a 404, so nothing runs).
      registry.requests.length = 0;
      const bare = await npx(['stackjobs', '--version'], { cwd: outside, registry: registry.url, cache: join(dir, 'cache-bare') });
      expect(bare.status).not.toBe(0);
      expect(registry.requests).toContain('GET /stackjobs/-/stackjobs-9.9.9.tgz');
    } finally {
      await new Promise((resolve) => registry.server.close(resolve));
    }
  });
});

it("at the repository's root runs this repository's stackjobs, offline, and passes --version through to it", async () => {
  const cache = join(dir, 'cache-root');
  const run = await npx([...FORM.slice(1), '--version'], { cwd: ROOT, registry: CLOSED_REGISTRY, cache });
  expect(run.stderr).toBe('');
  expect(run.stdout.trim()).toBe(VERSION);
  expect(run.status).toBe(0);
});
