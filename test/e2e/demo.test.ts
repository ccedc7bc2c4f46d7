/** The README's first command: `npm run demo` on a machine without terraform or tofu finishes, and says why it used the stand-in. */
import { spawnSync, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

it('runs the demo end to end with the stand-in CLI when no IaC binary is on the PATH', () => {
  // A PATH with node and git only, so the demo must notice that terraform and tofu are missing.
  const bin = mkdtempSync(join(tmpdir(), 'stackjobs-demo-path-'));
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync(execFileSync('sh', ['-c', 'command -v git']).toString().trim(), join(bin, 'git'));
  const tsx = join(__dirname, '../../node_modules/.bin/tsx');
  const run = spawnSync(process.execPath, [tsx, join(__dirname, '../../local/demo.ts'), '--yes'], {
    env: {
      PATH: `${bin}:${dirname(tsx)}`,
      HOME: process.env.HOME,
      NODE_OPTIONS: '--openssl-legacy-provider',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    encoding: 'utf8',
    timeout: 120000,
  });
  const output = `${run.stdout}\n${run.stderr}`;
  expect(output).toContain('neither terraform nor tofu is installed: using the stand-in CLI');
  // The stand-in plans one resource and one output per spec entry (versioning, tier); the update changes tier.
  expect(output).toMatch(/plan: 2 to add, 0 to change, 0 to destroy, 0 to replace/);
  expect(output).toMatch(/plan: 0 to add, 1 to change, 0 to destroy, 0 to replace/);
  expect(output).toContain('tier = "standard"');
  expect(output).toMatch(/demo finished in [\d.]+s: sj_\w+ succeeded, sj_\w+ succeeded/);
  expect(run.status).toBe(0);
}, 150000);

it('ends cleanly when the plan is rejected: nothing applied, exit 0, its temporary data directory removed', () => {
  const tsx = join(__dirname, '../../node_modules/.bin/tsx');
  const tmp = mkdtempSync(join(tmpdir(), 'stackjobs-demo-tmp-'));
  // Like /tmp: the tools run as an unprivileged user when the tests run as root, and must reach the data under it.
  chmodSync(tmp, 0o1777);
  const run = spawnSync(process.execPath, [tsx, join(__dirname, '../../local/demo.ts'), '--reject'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TMPDIR: tmp,
      NODE_OPTIONS: '--openssl-legacy-provider',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
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

const terraformOnPath = spawnSync('sh', ['-c', 'command -v terraform'], { encoding: 'utf8' }).stdout.trim();
(terraformOnPath ? it : it.skip)(
  "runs the demo with the real terraform on the PATH, and the module shows the resource's name",
  () => {
    const tsx = join(__dirname, '../../node_modules/.bin/tsx');
    const run = spawnSync(process.execPath, [tsx, join(__dirname, '../../local/demo.ts'), '--yes'], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_OPTIONS: '--openssl-legacy-provider',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
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
