/**
 * runner-image/provider-mirror.sh: the image's read-only provider mirror and the CLI configuration that points
 * Terraform at it. The download itself needs the registry (not reachable here), so `terraform providers mirror` is a
 * recording stand-in; the files it is given and writes are checked with the real Terraform.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireTerraform } from '../support/terraform-binary';

const SCRIPT = join(__dirname, '../../runner-image/provider-mirror.sh');
const TERRAFORM = requireTerraform('test/runner/provider-mirror.test.ts');
const itReal = TERRAFORM ? it : it.skip;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'provider-mirror-'));
  // A `terraform` that records how it was called and the configuration it was given.
  mkdirSync(join(dir, 'bin'));
  writeFileSync(
    join(dir, 'bin', 'terraform'),
    `#!/bin/sh\nchdir=\${1#-chdir=}\ncp "$chdir/main.tf" "${dir}/main.tf"\necho "$@" > "${dir}/args"\nmkdir -p "$5/registry.terraform.io/hashicorp/aws"\necho zip > "$5/registry.terraform.io/hashicorp/aws/5.80.0.json"\n`,
  );
  chmodSync(join(dir, 'bin', 'terraform'), 0o755);
});
afterEach(() => {
  // The mirror is made read-only: give write back so it can be removed.
  spawnSync('chmod', ['-R', 'u+w', dir]);
  rmSync(dir, { recursive: true, force: true });
});

const run = (providers: string) =>
  spawnSync('sh', [SCRIPT, providers, join(dir, 'mirror'), join(dir, 'etc', 'terraformrc')], {
    env: { PATH: `${join(dir, 'bin')}:/usr/bin:/bin` },
    encoding: 'utf8',
  });

describe('provider-mirror.sh', () => {
  it('mirrors exactly the listed providers for linux_amd64, read-only, and writes a configuration that uses the mirror first', () => {
    const r = run('hashicorp/aws=5.80.0 hashicorp/random=3.6.3');
    expect(r.status).toBe(0);
    expect(readFileSync(join(dir, 'args'), 'utf8').trim()).toMatch(/^-chdir=\S+ providers mirror -platform=linux_amd64 \S+\/mirror$/);
    const mainTf = readFileSync(join(dir, 'main.tf'), 'utf8');
    expect(mainTf).toContain('p0 = { source = "hashicorp/aws", version = "5.80.0" }');
    expect(mainTf).toContain('p1 = { source = "hashicorp/random", version = "3.6.3" }');
    const config = readFileSync(join(dir, 'etc', 'terraformrc'), 'utf8');
    expect(config).toMatch(/filesystem_mirror \{\s+path = "[^"]+\/mirror"\s+\}\s+direct \{\}/);
    // Nobody writes the mirror once built: no write bit anywhere in it.
    const walk = (p: string): string[] => (statSync(p).isDirectory() ? [p, ...readdirSync(p).flatMap((n) => walk(join(p, n)))] : [p]);
    for (const p of walk(join(dir, 'mirror'))) expect({ p, writable: (statSync(p).mode & 0o222) !== 0 }).toEqual({ p, writable: false });
    expect(statSync(join(dir, 'etc', 'terraformrc')).mode & 0o777).toBe(0o444);
  });

  it('writes a configuration with direct installation only, and calls nothing, when no provider is listed', () => {
    expect(run('').status).toBe(0);
    expect(() => readFileSync(join(dir, 'args'))).toThrow();
    expect(readFileSync(join(dir, 'etc', 'terraformrc'), 'utf8')).toContain('direct {}');
  });

  it('refuses an entry that is not <namespace>/<type>=<version>, naming it', () => {
    for (const bad of ['aws=5.80.0', 'hashicorp/aws', 'hashicorp/aws=']) {
      const r = run(`hashicorp/random=3.6.3 ${bad}`);
      expect({ bad, status: r.status }).toEqual({ bad, status: 2 });
      expect(r.stderr).toContain(`'${bad}' is not <namespace>/<type>=<version>`);
    }
  });

  itReal('writes files the real Terraform accepts: the generated configuration parses, and init runs with the CLI configuration', () => {
    expect(run('hashicorp/aws=5.80.0').status).toBe(0);
    const env = { PATH: process.env.PATH, HOME: dir, TF_CLI_CONFIG_FILE: join(dir, 'etc', 'terraformrc'), CHECKPOINT_DISABLE: '1' };
    const fmt = spawnSync(TERRAFORM!.bin, ['fmt', '-'], { input: readFileSync(join(dir, 'main.tf')), encoding: 'utf8', env });
    expect({ status: fmt.status, stderr: fmt.stderr }).toEqual({ status: 0, stderr: '' });
    // A module with built-in resources only: init consults the CLI configuration and succeeds without any download.
    const module = join(dir, 'module');
    mkdirSync(module);
    writeFileSync(join(module, 'main.tf'), 'resource "terraform_data" "x" {\n  input = "y"\n}\n');
    const out = execFileSync(TERRAFORM!.bin, ['init', '-input=false', '-no-color'], {
      cwd: module,
      env,
      encoding: 'utf8',
    });
    expect(out).toContain('Terraform has been successfully initialized');
  });
});
