/** The image cannot be built here (no Docker engine): these are the properties of the Dockerfile that matter. */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRunner } from '../../runner-image/build';
import { CODE_CACHE_FILE, RUNNER_MAIN_FILE } from '../../runner-image/src/boot';

const DIR = join(__dirname, '../../runner-image');
const dockerfile = readFileSync(join(DIR, 'Dockerfile'), 'utf8');
const arg = (name: string) => new RegExp(`^ARG ${name}=(\\S+)$`, 'm').exec(dockerfile)?.[1];

describe('runner-image/Dockerfile', () => {
  it.each(['TERRAFORM', 'TOFU', 'PULUMI'])('pins %s to an exact version and a SHA-256 that the download is checked against', (tool) => {
    expect(arg(`${tool}_VERSION`)).toMatch(/^\d+\.\d+\.\d+$/);
    expect(arg(`${tool}_SHA256`)).toMatch(/^[0-9a-f]{64}$/);
    expect(dockerfile).toMatch(new RegExp(`echo "\\$\\{${tool}_SHA256\\}  \\S+" \\| sha256sum -c -`));
  });

  it('ships Terraform and OpenTofu new enough for the S3-native locking the runner asks for without a lock table', async () => {
    const { resolveCredentials } = await import('../../runner-image/src/credentials');
    const { SecretRegistry } = await import('../../runner-image/src/redactor');
    const { makeJob } = await import('../support/domain-fixtures');
    const e = makeJob().spec.essentials;
    const s3 = { ...e, backendCredential: { ...e.backendCredential, type: 's3' as const, config: { bucket: 'state', region: 'us-east-1' } } };
    const resolved = await resolveCredentials(s3, { jobId: 'sj_x', org: 'acmecorp' }, tmpdir(), {
      secrets: { get: async () => '' },
      sts: () => ({ send: async () => ({ Credentials: { AccessKeyId: 'ASIAX', SecretAccessKey: 'x' } }), destroy: () => undefined }) as never,
      registry: new SecretRegistry(),
      stateRoleArn: 'arn:aws:iam::123456789012:role/state',
    });
    expect(resolved.backendConfig).toContain('use_lockfile=true');
    // use_lockfile is Terraform >= 1.10 and OpenTofu >= 1.10: older binaries reject the backend at init.
    for (const tool of ['TERRAFORM', 'TOFU']) {
      const [major, minor] = arg(`${tool}_VERSION`)!.split('.').map(Number);
      expect({ tool, atLeast110: major > 1 || (major === 1 && minor >= 10) }).toEqual({ tool, atLeast110: true });
    }
  });

  it("is multi-stage on Node 22 slim, and runs the IaC tool under its own unprivileged uid, never the runner's", () => {
    expect(arg('NODE_IMAGE')).toBe('node:22-slim');
    expect(dockerfile.match(/^FROM /gm)!.length).toBeGreaterThanOrEqual(3);
    const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    // The runner can only start the tool under another uid as root; the tool's uid is set in the image itself, so
    // the isolation is on by default (the runner refuses to switch users otherwise, and says so).
    expect(/^USER (\S+)$/m.exec(finalStage)?.[1]).toBe('root');
    const toolUid = /STACKJOBS_TOOL_UID=(\d+)/.exec(finalStage)?.[1];
    expect(Number(toolUid)).toBeGreaterThanOrEqual(10000);
    expect(finalStage).toContain(`useradd --system --uid ${toolUid}`);
    expect(finalStage).toMatch(/--shell \/usr\/sbin\/nologin/);
    // The runner's own files are not the tool's to read.
    expect(finalStage).toContain('chmod 0700 /app');
    expect(finalStage).toMatch(/git/);
  });

  it('carries every tool by default, and a read-only provider mirror with the CLI configuration that uses it', () => {
    expect(dockerfile).toMatch(/^ARG RUNNER_TOOLS="terraform tofu pulumi"$/m);
    expect(arg('TERRAFORM_PROVIDER_MIRROR')).toBe('""');
    for (const tool of ['tofu', 'pulumi']) expect(dockerfile).toContain(`RUN case " \${RUNNER_TOOLS} " in *" ${tool} "*)`);
    expect(dockerfile).toContain('COPY runner-image/provider-mirror.sh /tools/provider-mirror.sh');
    expect(dockerfile).toMatch(/sh \/tools\/provider-mirror\.sh "\$\{TERRAFORM_PROVIDER_MIRROR\}" \/opt\/terraform\/providers \/etc\/stackjobs\/terraformrc/);
    const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    expect(finalStage).toContain('COPY --from=tools /opt/terraform/providers/ /opt/terraform/providers/');
    expect(finalStage).toContain('TF_CLI_CONFIG_FILE=/etc/stackjobs/terraformrc');
  });

  it('leaves no package manager caches behind', () => {
    for (const line of dockerfile.split(/\n(?! )/).filter((l) => l.includes('apt-get install'))) expect(line).toContain('rm -rf /var/lib/apt/lists/*');
    expect(dockerfile).toContain('npm cache clean --force');
  });

  it('has an entrypoint whose file the build stage produces with the same build script the tests use', () => {
    const entry = /^ENTRYPOINT \[(.*)\]$/m.exec(dockerfile)![1];
    expect(entry).toContain('"/app/runner.js"');
    expect(dockerfile).toContain('RUN npx tsx runner-image/build.ts /out/runner.js');
    expect(dockerfile).toContain('COPY --from=build /out/ /app/');
    const out = mkdtempSync(join(tmpdir(), 'runner-build-'));
    try {
      buildRunner(join(out, 'runner.js'));
      // The entrypoint, the bundle it loads and the bundle's code cache, all copied to /app by the one COPY above.
      expect(statSync(join(out, 'runner.js')).size).toBeGreaterThan(500);
      expect(statSync(join(out, RUNNER_MAIN_FILE)).size).toBeGreaterThan(100_000);
      expect(statSync(join(out, CODE_CACHE_FILE)).size).toBeGreaterThan(100_000);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('sends the build stage everything it copies, and nothing else', () => {
    const ignore = readFileSync(join(DIR, 'Dockerfile.dockerignore'), 'utf8');
    for (const copied of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'lambdas/',
      'runner-image/src/',
      'runner-image/build.ts',
      'runner-image/provider-mirror.sh',
    ]) {
      expect(ignore).toContain(`!${copied}`);
      expect(existsSync(join(DIR, '..', copied))).toBe(true);
    }
    expect(ignore.split('\n')).toContain('*');
  });
});
