/** Pre-flight's module ref check: the adapter against git's real protocols, and the check's verdicts. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GitRefProbe, localRefExists, parseAdvertisedRefs } from '../../lambdas/adapters/git/ref-probe';
import { runPreflight } from '../../lambdas/domain/preflight';
import { change, existingRefs, gitHttpFetch, preflightDeps } from '../support/domain-fixtures';

const secrets = (values: Record<string, string> = {}) => ({
  get: async (ref: string) => values[ref] ?? Promise.reject(Object.assign(new Error('nope'), { name: 'ResourceNotFoundException' })),
});

describe('GitRefProbe over smart HTTP', () => {
  const repo = 'github.com/acme/mod';
  const http = () => gitHttpFetch({ [repo]: ['HEAD', 'refs/heads/main', 'refs/tags/v1.2.0', 'refs/tags/v1.2.0^{}'] });

  it('finds a tag and a branch, and reports a missing ref by name', async () => {
    const probe = new GitRefProbe(secrets(), http());
    expect(await probe.probe({ gitRepo: repo, ref: 'v1.2.0' })).toEqual({ status: 'found' });
    expect(await probe.probe({ gitRepo: `https://${repo}`, ref: 'main' })).toEqual({ status: 'found' });
    expect(await probe.probe({ gitRepo: repo, ref: 'v1.2.1' })).toEqual({ status: 'missing', detail: `https://${repo} has no branch or tag v1.2.1` });
  });

  it('sends the module token only as basic auth, and never in a message', async () => {
    const f = http();
    const token = 'ghp_PLANTED0000000000000000000000000000';
    const probe = new GitRefProbe(secrets({ 'stackjobs/acme/git': token }), f);
    const result = await probe.probe({ gitRepo: repo, ref: 'nope', gitTokenSecretRef: 'stackjobs/acme/git' });
    expect(f.calls[0].authorization).toBe(`Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`);
    expect(f.calls[0].url).not.toContain(token);
    expect(JSON.stringify(result)).not.toContain(token);
  });

  it('says a refused token, an unknown repository and an unreachable host apart', async () => {
    const refused = new GitRefProbe(secrets(), (async () => new Response('', { status: 401 })) as typeof fetch);
    expect(await refused.probe({ gitRepo: repo, ref: 'v1' })).toMatchObject({
      status: 'unreachable',
      detail: expect.stringContaining('needs a token (gitTokenSecretRef)'),
    });
    const unknown = new GitRefProbe(secrets(), http());
    expect(await unknown.probe({ gitRepo: 'github.com/acme/other', ref: 'v1' })).toMatchObject({
      status: 'missing',
      detail: expect.stringContaining('not a repository'),
    });
    const offline = new GitRefProbe(secrets(), (async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ENOTFOUND' } });
    }) as typeof fetch);
    expect(await offline.probe({ gitRepo: repo, ref: 'v1' })).toEqual({ status: 'unreachable', detail: `https://${repo} could not be reached (ENOTFOUND)` });
  });

  it('parses pkt-lines with capabilities and peeled tags', () => {
    const body = '001e# service=git-upload-pack\n0000' + '003c' + 'a'.repeat(40) + ' HEAD\0caps here\n' + '003c' + 'b'.repeat(40) + ' refs/tags/v1^{}\n0000';
    expect(parseAdvertisedRefs(body)).toEqual(['HEAD', 'refs/tags/v1^{}']);
  });
});

describe('GitRefProbe on a local repository (git ls-remote, local mode)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'stackjobs-refprobe-'));
    const git = (...a: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@e', '-c', 'init.defaultBranch=main', ...a], { cwd: dir, stdio: 'pipe' });
    git('init', '-q');
    writeFileSync(join(dir, 'main.tf'), '');
    git('add', '.');
    git('commit', '-qm', 'x');
    git('tag', 'v1.0.0');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds the tag and the branch, and names a missing ref', async () => {
    const probe = new GitRefProbe(secrets());
    expect(await probe.probe({ gitRepo: dir, ref: 'v1.0.0' })).toEqual({ status: 'found' });
    expect(await probe.probe({ gitRepo: `file://${dir}`, ref: 'main' })).toEqual({ status: 'found' });
    expect(await probe.probe({ gitRepo: dir, ref: 'v1.0.1' })).toEqual({ status: 'missing', detail: `${dir} has no branch or tag v1.0.1` });
  });

  it("answers from the repository's ref files as git ls-remote does, loose and packed, bare and worktree, without starting git", async () => {
    const git = (cwd: string, ...a: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@e', ...a], { cwd, stdio: 'pipe' }).toString();
    git(dir, 'branch', 'feature/nested');
    git(dir, 'tag', 'packed-tag');
    git(dir, 'pack-refs', '--all');
    git(dir, 'branch', 'loose-after-pack');
    git(dir, 'tag', '-a', 'annotated', '-m', 'a');
    const bare = `${dir}-bare.git`;
    const tree = `${dir}-tree`;
    try {
      execFileSync('git', ['clone', '-q', '--bare', dir, bare], { stdio: 'pipe' });
      git(dir, 'worktree', 'add', '-q', tree, '-b', 'from-worktree');
      const refs = [
        'main',
        'v1.0.0',
        'feature/nested',
        'packed-tag',
        'loose-after-pack',
        'annotated',
        'from-worktree',
        'feature',
        'nested',
        'v1.0.1',
        'HEAD',
        'heads/main',
      ];
      for (const repo of [dir, `file://${dir}`, bare, tree]) {
        const listed = git(dir, 'ls-remote', '--heads', '--tags', repo)
          .split('\n')
          .flatMap((l) => (l.includes('\t') ? [l.split('\t')[1]] : []));
        for (const ref of refs) {
          const expected = listed.includes(`refs/heads/${ref}`) || listed.includes(`refs/tags/${ref}`);
          expect({ repo, ref, found: localRefExists(repo, ref) }).toEqual({ repo, ref, found: expected });
        }
      }
      // The probe answers from the files: git is never started for these.
      const probe = new GitRefProbe(secrets(), undefined, () => Promise.reject(new Error('git must not be started')));
      expect(await probe.probe({ gitRepo: tree, ref: 'packed-tag' })).toEqual({ status: 'found' });
      expect(await probe.probe({ gitRepo: bare, ref: 'nope' })).toEqual({ status: 'missing', detail: `${bare} has no branch or tag nope` });
    } finally {
      rmSync(bare, { recursive: true, force: true });
      rmSync(tree, { recursive: true, force: true });
    }
  });

  it('leaves names git would refuse (or that climb out of refs/) to git itself', async () => {
    const asked: string[] = [];
    const probe = new GitRefProbe(secrets(), undefined, async (url) => {
      asked.push(url);
      return ['refs/heads/main'];
    });
    for (const ref of ['../../config', 'a..b', 'has space', 'x~1', '/abs', 'trailing/', 'at@{1}']) {
      expect(localRefExists(dir, ref)).toBeUndefined();
      expect(await probe.probe({ gitRepo: dir, ref })).toMatchObject({ status: 'missing' });
    }
    expect(asked).toHaveLength(7);
  });

  it('leaves SSH repositories to the clone', async () => {
    expect(await new GitRefProbe(secrets()).probe({ gitRepo: 'git@github.com:acme/mod.git', ref: 'v1' })).toMatchObject({ status: 'unchecked' });
  });
});

describe('the module check in pre-flight', () => {
  it("fails on a missing branch or tag, naming it, and asks the module's repository for it", async () => {
    const refs = existingRefs(['v2.3.0']);
    const outcome = await runPreflight(change(), preflightDeps({ moduleRefs: refs }));
    expect(outcome.passed).toBe(false);
    const module = outcome.checks.find((c) => c.check === 'module')!;
    expect(module.passed).toBe(false);
    expect(module.messages.join('\n')).toContain('has no branch or tag v2.3.0');
    expect(refs.asked).toEqual(['github.com/project-planton/aws-eks@v2.3.0']);
  });

  it('passes when the ref exists, and fails by reference (not value) when the token cannot be read', async () => {
    expect((await runPreflight(change(), preflightDeps())).passed).toBe(true);
    const throwing = { probe: async () => Promise.reject(Object.assign(new Error('AccessDenied for stackjobs/x'), { name: 'AccessDeniedException' })) };
    const outcome = await runPreflight(change(), preflightDeps({ moduleRefs: throwing }));
    const module = outcome.checks.find((c) => c.check === 'module')!;
    expect(module).toMatchObject({ passed: false });
    expect(module.messages.join('\n')).toContain('AccessDeniedException');
  });
});
