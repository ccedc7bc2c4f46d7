/** The README's first command: `npm run demo` on a machine without terraform or tofu finishes, and says why it used the stand-in. */
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

it('runs the demo end to end with the stand-in CLI when no IaC binary is on the PATH', () => {
  // A PATH with node and git only, so the demo must notice that terraform and tofu are missing.
  const bin = mkdtempSync(join(tmpdir(), 'stackjobs-demo-path-'));
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync(execFileSync('sh', ['-c', 'command -v git']).toString().trim(), join(bin, 'git'));
  const tsx = join(__dirname, '../../node_modules/.bin/tsx');
  const run = spawnSync(process.execPath, [tsx, join(__dirname, '../../local/demo.ts'), '--yes'], {
    env: demoEnv({ PATH: `${bin}:${dirname(tsx)}` }),
    encoding: 'utf8',
    timeout: 120000,
  });
  const output = `${run.stdout}\n${run.stderr}`;
  expect(output).toContain('neither terraform nor tofu is installed: using the stand-in CLI');
  // Local mode's startup steps, so its first seconds (the synth) are not silence.
  expect(output.indexOf('starting: synthesizing the CDK app offline')).toBeGreaterThanOrEqual(0);
  expect(output.indexOf('starting: starting S3')).toBeGreaterThan(output.indexOf('starting: synthesizing'));
  expect(output.indexOf('stackjobs local ready on')).toBeGreaterThan(output.indexOf('starting: starting S3'));
  // The stand-in plans one resource and one output per spec entry (versioning, tier); the update changes tier.
  expect(output).toMatch(/plan: 2 to add, 0 to change, 0 to destroy, 0 to replace/);
  expect(output).toMatch(/plan: 0 to add, 1 to change, 0 to destroy, 0 to replace/);
  expect(output).toContain('tier = "standard"');
  expect(output).toMatch(/demo finished in [\d.]+s: sj_\w+ succeeded, sj_\w+ succeeded/);
  expect(run.status).toBe(0);
}, 150000);

it('ends cleanly when the plan is rejected: nothing applied, exit 0, its temporary data directory removed', () => {
  const tsx = join(__dirname, '../../node_modules/.bin/tsx');
  const tmp = privateTmp();
  const run = spawnSync(process.execPath, [tsx, join(__dirname, '../../local/demo.ts'), '--reject'], {
    env: demoEnv({ TMPDIR: tmp }),
    encoding: 'utf8',
    timeout: 120000,
  });
  const output = `${run.stdout}\n${run.stderr}`;
  // The approver saw what would change before saying no.
  expect(output).toMatch(/will be created/);
  expect(output).toMatch(/rejected by approver@acmecorp\.example: "from npm run demo"; nothing was applied/);
  expect(output).toContain('rejected; nothing was applied');
  expect(output).not.toContain('demo failed');
  expect(run.status).toBe(0);
  // Nothing of the demo's is left behind (its data, synth output, local mode's directories); tsx keeps its own cache.
  expect(readdirSync(tmp).filter((d) => !d.startsWith('tsx-'))).toEqual([]);
}, 150000);

/** A TMPDIR of its own, as /tmp is (the tools run as an unprivileged user when the tests run as root). */
/** The demo's environment in these tests: what a fresh shell has (PATH, HOME), and `extra`. */
function demoEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_OPTIONS: '--openssl-legacy-provider',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...extra,
  };
}

function privateTmp(): string {
  const tmp = mkdtempSync(join(tmpdir(), 'stackjobs-demo-tmp-'));
  chmodSync(tmp, 0o1777);
  return tmp;
}

const demoDirs = (tmp: string) => readdirSync(tmp).filter((d) => d.startsWith('stackjobs-demo-'));

it('removes its temporary data directory when local mode fails to start', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', () => resolve()));
  try {
    const tmp = privateTmp();
    const run = spawnSync(process.execPath, [join(__dirname, '../../node_modules/.bin/tsx'), join(__dirname, '../../local/demo.ts'), '--yes'], {
      env: demoEnv({ TMPDIR: tmp, STACKJOBS_PORT: String((taken.address() as { port: number }).port) }),
      encoding: 'utf8',
      timeout: 60000,
    });
    expect(`${run.stdout}\n${run.stderr}`).toMatch(/demo failed: port \d+ on 127\.0\.0\.1 is in use/);
    expect(run.status).toBe(1);
    expect(demoDirs(tmp)).toEqual([]);
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
}, 60000);

/** Starts the demo in `tmp`, and sends it SIGINT (a terminal's Ctrl-C) when it prints `line`; resolves with its exit. */
async function interruptDemo(tmp: string, line: string): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [join(__dirname, '../../node_modules/.bin/tsx'), join(__dirname, '../../local/demo.ts'), '--yes'], {
    env: demoEnv({ TMPDIR: tmp }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${line}":\n${out}`)), 60000);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (!out.includes(line)) return;
      clearTimeout(timer);
      resolve();
    });
  });
  expect(demoDirs(tmp)).toHaveLength(1);
  child.kill('SIGINT');
  return { code: await exited, out };
}

async function gone(tmp: string): Promise<string[]> {
  for (const deadline = Date.now() + 10000; demoDirs(tmp).length > 0 && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 100));
  return demoDirs(tmp);
}

it('removes its temporary data directory on Ctrl-C, also during the synth, when it cannot clean up itself', async () => {
  // While the demo runs jobs: it stops local mode and removes the directory itself ("SIGINT: stopping the demo"), or,
  // when its event loop is busy past tsx's 60 ms (a loaded machine), tsx kills it and its watcher removes it.
  const running = privateTmp();
  const stopped = await interruptDemo(running, 'stackjobs local ready on');
  expect(stopped.code).toBe(130);
  expect(await gone(running)).toEqual([]);

  // During the synth the event loop is held, so tsx kills the demo outright; its watcher removes the directory.
  const starting = privateTmp();
  expect((await interruptDemo(starting, 'starting: synthesizing')).code).toBe(130);
  expect(await gone(starting)).toEqual([]);
}, 120000);

const terraformOnPath = spawnSync('sh', ['-c', 'command -v terraform'], { encoding: 'utf8' }).stdout.trim();
(terraformOnPath ? it : it.skip)(
  "runs the demo with the real terraform on the PATH, and the module shows the resource's name",
  () => {
    const tsx = join(__dirname, '../../node_modules/.bin/tsx');
    const run = spawnSync(process.execPath, [tsx, join(__dirname, '../../local/demo.ts'), '--yes'], {
      env: demoEnv(),
      encoding: 'utf8',
      timeout: 120000,
    });
    const output = `${run.stdout}\n${run.stderr}`;
    expect(output).not.toContain('using the stand-in CLI');
    // One terraform_data resource: created, then updated in place when the tier moves.
    expect(output).toMatch(/plan: 1 to add, 0 to change, 0 to destroy, 0 to replace/);
    expect(output).toMatch(/plan: 0 to add, 1 to change, 0 to destroy, 0 to replace/);
    expect(output).toContain('bucket_name = "demo-assets"');
    // Before the approval, the plan as an approver reads it: the resource, its action, the attributes.
    expect(output).toMatch(/\+ terraform_data\.\w+ will be created/);
    expect(run.status).toBe(0);
  },
  150000,
);
