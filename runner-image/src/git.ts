/**
 * Shallow clone of the module repository (depth 1, one branch or tag) with system git through simple-git.
 * A private repo's token reaches git through GIT_ASKPASS and the git process's environment only: never the
 * URL (which git prints in errors) and never a file.
 */
import { chmod, readFile, realpath, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { simpleGit } from 'simple-git';
import { COMMIT_RE, refInFiles } from '../../lambdas/adapters/git/ref-files';

export interface ModuleSource {
  gitRepo: string;
  branch: string;
  path: string;
}

/** A local path ignores --depth unless given as file://; a bare host path ("github.com/org/repo") means https. */
export function cloneUrl(gitRepo: string): string {
  if (/^(https?|ssh|git|file):\/\//.test(gitRepo) || /^[\w.-]+@[\w.-]+:/.test(gitRepo)) return gitRepo;
  if (isAbsolute(gitRepo)) return `file://${gitRepo}`;
  return `https://${gitRepo}`;
}

// Answers git's username prompt with a fixed name and its password prompt with the token from the environment.
const ASKPASS = `#!/bin/sh
case "$1" in
  Username*) echo "x-access-token" ;;
  *) printf '%s\\n' "$STACKJOBS_GIT_TOKEN" ;;
esac
`;

export interface ClonedModule {
  /** The module's working directory (`<clone>/<path>`), inside the clone. */
  dir: string;
  /** The commit checked out. */
  commit: string;
}

/**
 * Clones into `dest` (`--depth 1`, the branch or tag) and returns the module's working directory and commit. With
 * `pin`, the module is the pinned commit whatever the branch points at now: a branch or tag that moved since the
 * preview is fetched back to the previewed commit by its id (`git fetch --depth 1 origin <sha>`), or refused when the
 * server no longer has it, so what is applied is what was previewed.
 */
export async function cloneModule(source: ModuleSource, dest: string, scratchDir: string, token?: string, pin?: string): Promise<ClonedModule> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: scratchDir,
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
  };
  if (token) {
    const askpass = join(scratchDir, 'git-askpass.sh');
    await writeFile(askpass, ASKPASS, { mode: 0o700 });
    await chmod(askpass, 0o700);
    env.GIT_ASKPASS = askpass;
    env.STACKJOBS_GIT_TOKEN = token;
  }
  if (pin !== undefined && !COMMIT_RE.test(pin)) throw new Error(`the pinned module commit is not a commit id`);
  // simple-git guards GIT_* variables and askpass by default; these are set here deliberately, to a script we wrote.
  const gitIn = (baseDir: string) =>
    simpleGit({ baseDir, allowEnvironment: Object.keys(env).filter((k) => k.startsWith('GIT_')), unsafe: { allowUnsafeAskPass: true } }).env(env);
  await gitIn(scratchDir).clone(cloneUrl(source.gitRepo), dest, [
    '--depth',
    '1',
    '--branch',
    source.branch,
    '--single-branch',
    '-c',
    'advice.detachedHead=false',
  ]);
  const repo = gitIn(dest);
  let commit = await headCommit(dest, () => repo.revparse(['HEAD']));
  if (pin && commit !== pin) {
    try {
      await repo.fetch(['--depth', '1', 'origin', pin]);
      await repo.checkout(['--detach', '-q', 'FETCH_HEAD']);
    } catch {
      throw new Error(
        `${source.branch} moved from ${pin} (previewed) to ${commit}, and ${pin} can no longer be fetched: nothing was run; rerun the job to preview the module as it is now`,
      );
    }
    commit = (await repo.revparse(['HEAD'])).trim();
    if (commit !== pin) throw new Error(`fetched ${pin} but checked out ${commit}: nothing was run`);
  }
  return { dir: await moduleDirIn(dest, source), commit };
}

/** The module's working directory `<clone>/<path>`: it must exist and stay inside the clone, by real path too. */
async function moduleDirIn(dest: string, source: ModuleSource): Promise<string> {
  const workDir = resolve(dest, source.path || '.');
  const inside = (root: string, p: string) => {
    const rel = relative(root, p);
    return !(rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel));
  };
  if (!inside(dest, workDir)) throw new Error(`module path ${source.path} leaves the repository`);
  const s = await stat(workDir).catch(() => undefined);
  if (!s?.isDirectory()) throw new Error(`module path ${source.path} does not exist at ${source.branch}`);
  // By real path too: a symbolic link in the repository (path "infra" -> "/etc") must not take the tool outside it.
  const [realRoot, realDir] = await Promise.all([realpath(dest), realpath(workDir)]);
  if (!inside(realRoot, realDir)) throw new Error(`module path ${source.path} leaves the repository through a symbolic link`);
  return realDir;
}

/**
 * A clone restored from the preview's saved workspace: it must be at the pinned commit (the one the preview recorded),
 * and its module path passes the same checks as a fresh clone's.
 */
export async function restoredModule(source: ModuleSource, dest: string, pin: string): Promise<ClonedModule> {
  const commit = await headCommit(dest);
  if (commit !== pin) throw new Error(`the saved workspace is at ${commit}, not at the previewed commit ${pin}: nothing was run`);
  return { dir: await moduleDirIn(dest, source), commit };
}

/**
 * The commit a clone's HEAD is at, as `git rev-parse HEAD` says, read from its files where they say it plainly
 * (ref-files.ts): a detached HEAD (a tag's clone), or a branch's loose ref or line in packed-refs. Anything else (a
 * reftable repository, a symbolic ref to a symbolic ref) is git's to answer.
 */
export async function headCommit(dest: string, git: () => PromiseLike<string> = () => simpleGit({ baseDir: dest }).revparse(['HEAD'])): Promise<string> {
  const gitDir = join(dest, '.git');
  const head = (await readFile(join(gitDir, 'HEAD'), 'utf8').catch(() => '')).trim();
  if (COMMIT_RE.test(head)) return head;
  const branch = /^ref: (refs\/heads\/\S+)$/.exec(head)?.[1];
  const found = branch ? refInFiles(gitDir, branch) : undefined;
  const commit = found && ('loose' in found ? found.loose : found.packed);
  return commit && COMMIT_RE.test(commit) ? commit : (await git()).trim();
}
