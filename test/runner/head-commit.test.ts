/**
 * headCommit reads a clone's commit from its files instead of starting git: each answer must be git's own
 * (`git rev-parse HEAD`), for every shape a clone's HEAD takes, and git must still answer what the files do not say.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cloneModule, headCommit } from '../../runner-image/src/git';

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', '-c', 'init.defaultBranch=main', ...args], { cwd, encoding: 'utf8' }).trim();

let dir: string;
let origin: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'head-commit-'));
  origin = join(dir, 'origin');
  execFileSync('mkdir', ['-p', origin]);
  git(origin, 'init', '-q');
  writeFileSync(join(origin, 'main.tf'), '# one\n');
  git(origin, 'add', '.');
  git(origin, 'commit', '-q', '-m', 'one');
  git(origin, 'tag', '-a', 'v1', '-m', 'v1');
  writeFileSync(join(origin, 'main.tf'), '# two\n');
  git(origin, 'commit', '-q', '-am', 'two');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const noGit = () => Promise.reject(new Error('git was started'));

describe('headCommit', () => {
  it("reads a branch clone's commit (a loose ref) as git does, without git", async () => {
    const { commit, dir: moduleDir } = await cloneModule({ gitRepo: origin, branch: 'main', path: '' }, join(dir, 'branch'), dir);
    expect(moduleDir).toBe(join(dir, 'branch'));
    expect(commit).toBe(git(origin, 'rev-parse', 'main'));
    expect(await headCommit(join(dir, 'branch'), noGit)).toBe(git(join(dir, 'branch'), 'rev-parse', 'HEAD'));
  });

  it("reads a tag clone's detached HEAD, and a branch whose ref is only in packed-refs", async () => {
    const tag = await cloneModule({ gitRepo: origin, branch: 'v1', path: '' }, join(dir, 'tag'), dir);
    expect(tag.commit).toBe(git(origin, 'rev-parse', 'v1^{commit}'));
    expect(await headCommit(join(dir, 'tag'), noGit)).toBe(tag.commit);

    await cloneModule({ gitRepo: origin, branch: 'main', path: '' }, join(dir, 'packed'), dir);
    git(join(dir, 'packed'), 'pack-refs', '--all', '--prune');
    expect(await headCommit(join(dir, 'packed'), noGit)).toBe(git(join(dir, 'packed'), 'rev-parse', 'HEAD'));
  });

  it('asks git when the files do not say plainly, and never reads outside the git directory', async () => {
    await cloneModule({ gitRepo: origin, branch: 'main', path: '' }, join(dir, 'odd'), dir);
    const gitDir = join(dir, 'odd', '.git');
    // A branch ref that is itself symbolic: git follows it, the files are not read as a commit.
    writeFileSync(join(gitDir, 'refs', 'heads', 'alias'), 'ref: refs/heads/main\n');
    writeFileSync(join(gitDir, 'HEAD'), 'ref: refs/heads/alias\n');
    let asked = 0;
    const viaGit = () => {
      asked++;
      return Promise.resolve(`${git(join(dir, 'odd'), 'rev-parse', 'HEAD')}\n`);
    };
    expect(await headCommit(join(dir, 'odd'), viaGit)).toBe(git(origin, 'rev-parse', 'main'));
    expect(asked).toBe(1);
    // A HEAD naming a path that climbs out of the git directory is not followed.
    writeFileSync(join(dir, 'outside'), `${'a'.repeat(40)}\n`);
    writeFileSync(join(gitDir, 'HEAD'), 'ref: refs/heads/../../../outside\n');
    await expect(headCommit(join(dir, 'odd'), () => Promise.resolve('from git'))).resolves.toBe('from git');
  });
});
