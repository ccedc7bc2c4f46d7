/** Catalog input that reaches commands and paths: refused at the catalog, and checked again by real path at run time. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backendCredentialSchema, iacModuleSchema } from '../../lambdas/domain/schemas';
import { cloneModule } from '../../runner-image/src/git';
import { platformEksModule, s3Backend } from '../support/domain-fixtures';

describe('the catalog refuses values that would reach a command line or a path', () => {
  it.each([
    [
      'an endpoint that breaks out of -backend-config=endpoints={s3="…"}',
      { config: { bucket: 'b', region: 'us-east-1', keyPrefix: 'stack-jobs', endpoint: 'http://minio:9000"} skip_credentials_validation=true #' } },
      'config.endpoint',
    ],
    ['a key prefix that climbs out', { config: { bucket: 'b', region: 'us-east-1', keyPrefix: '../other-org' } }, 'config.keyPrefix'],
    ['a relative local state path', { type: 'local', config: { keyPrefix: 'stack-jobs', path: 'state/../../etc' } }, 'config.path'],
  ])('backend: %s', (_what, over, field) => {
    const parsed = backendCredentialSchema.safeParse({ ...s3Backend(), ...over });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => i.path.join('.'))).toContain(field);
  });

  it.each([
    ['a path with ..', { path: 'terraform/../../..' }, 'path'],
    ['an absolute path', { path: '/etc' }, 'path'],
    ['a git URL that is an option', { gitRepo: '--upload-pack=touch /tmp/pwned' }, 'gitRepo'],
    ['a git URL with a quote', { gitRepo: 'github.com/acme/mod"x' }, 'gitRepo'],
  ])('module: %s', (_what, over, field) => {
    const parsed = iacModuleSchema.safeParse({ ...platformEksModule(), ...over });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => i.path.join('.'))).toContain(field);
  });

  it('accepts the ordinary forms', () => {
    for (const gitRepo of [
      'github.com/acme/mod',
      'https://github.com/acme/mod.git',
      'git@github.com:acme/mod.git',
      '/srv/git/mod.git',
      'file:///srv/git/mod.git',
    ]) {
      expect({ gitRepo, ok: iacModuleSchema.safeParse({ ...platformEksModule(), gitRepo, path: 'modules/eks' }).success }).toEqual({ gitRepo, ok: true });
    }
    expect(
      backendCredentialSchema.safeParse({
        ...s3Backend(),
        config: { bucket: 'b', region: 'us-east-1', keyPrefix: 'stack-jobs', endpoint: 'http://127.0.0.1:9000/s3' },
      }).success,
    ).toBe(true);
  });
});

describe('the module directory at run time', () => {
  let dir: string;
  let repo: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'stackjobs-modpath-'));
    const work = join(dir, 'src');
    mkdirSync(join(work, 'terraform'), { recursive: true });
    writeFileSync(join(work, 'terraform', 'main.tf'), '');
    symlinkSync('/etc', join(work, 'escape'));
    symlinkSync('terraform', join(work, 'alias'));
    const git = (cwd: string, ...a: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@e', '-c', 'init.defaultBranch=main', ...a], { cwd, stdio: 'pipe' });
    git(work, 'init', '-q');
    git(work, 'add', '.');
    git(work, 'commit', '-qm', 'm');
    git(work, 'tag', 'v1');
    repo = join(dir, 'mod.git');
    git(dir, 'clone', '-q', '--bare', work, repo);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a path that leaves the clone through a symbolic link, and follows one that stays inside', async () => {
    const clone = (path: string, n: string) => cloneModule({ gitRepo: repo, branch: 'v1', path }, join(dir, `clone-${n}`), dir);
    await expect(clone('escape', 'a')).rejects.toThrow('module path escape leaves the repository through a symbolic link');
    await expect(clone('alias', 'b')).resolves.toEqual({ dir: join(dir, 'clone-b', 'terraform'), commit: expect.stringMatching(/^[0-9a-f]{40}$/) });
  });
});
