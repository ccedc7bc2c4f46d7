/**
 * Whether a module's branch or tag exists, asked of its repository the way `git ls-remote` does, so a typo fails
 * in pre-flight with the ref's name instead of at `init` minutes later.
 * - HTTPS (and a bare "host/org/repo", which the runner clones over HTTPS): git's smart-HTTP ref advertisement
 *   (`GET <repo>/info/refs?service=git-upload-pack`), with the module's token as basic auth. No git binary is
 *   needed, which is what the Lambda runtime has.
 * - A local path or file:// URL (local mode): the repository's own ref files (loose refs and packed-refs), read
 *   without starting git; `git ls-remote` where they are not plain files (a reftable repository, an unusual ref name).
 *   Starting a process forks the caller, which in local mode is one large process serving every request.
 * - SSH: not checked here (no key in pre-flight); the clone at `init` reports a missing ref.
 * The token goes only into the Authorization header; no message carries it.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { ModuleRef, ModuleRefProbe, ModuleRefResult, SecretSource } from '../../domain/ports';
import { refInFiles } from './ref-files';

/** A repository that has not answered in this long is reported unreachable (pre-flight must stay fast). */
export const REF_PROBE_TIMEOUT_MS = 5000;

/** Ref names in a smart-HTTP advertisement (pkt-lines: 4 hex digits of length, then "<sha> <ref>[\0caps]\n"). */
export function parseAdvertisedRefs(body: string): string[] {
  const refs: string[] = [];
  let at = 0;
  while (at + 4 <= body.length) {
    const len = parseInt(body.slice(at, at + 4), 16);
    if (Number.isNaN(len)) break;
    if (len === 0) {
      at += 4;
      continue;
    }
    const line = body.slice(at + 4, at + len).replace(/\n$/, '');
    at += len;
    if (line.startsWith('#')) continue;
    const m = /^[0-9a-f]{40,64} ([^\0]+)/.exec(line);
    if (m) refs.push(m[1]);
  }
  return refs;
}

const matches = (refs: string[], ref: string) => refs.some((r) => r === `refs/heads/${ref}` || r === `refs/tags/${ref}`);

export type Fetch = typeof fetch;
export type GitLsRemote = (url: string) => Promise<string[]>;

const gitLsRemote: GitLsRemote = (url) =>
  new Promise((resolve, reject) => {
    execFile(
      'git',
      ['ls-remote', '--heads', '--tags', url],
      { timeout: REF_PROBE_TIMEOUT_MS, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GIT_TERMINAL_PROMPT: '0' } },
      (err, stdout) => {
        if (err) reject(err);
        else resolve(stdout.split('\n').flatMap((l) => (l.includes('\t') ? [l.split('\t')[1]] : [])));
      },
    );
  });

/**
 * Whether a local repository has the branch or tag, from its files: `refs/heads/<ref>` or `refs/tags/<ref>` as a loose
 * ref, or a line of `packed-refs`. Undefined when the files cannot say for sure (no plain refs layout, a reftable
 * repository, a ref name git would refuse): the caller asks git then.
 */
export function localRefExists(repo: string, ref: string): boolean | undefined {
  // Names git would refuse, or that would climb out of refs/: git decides those.
  if (!ref || ref.includes('..') || ref.startsWith('/') || ref.endsWith('/') || /[\\\x00-\x20~^:?*[]/.test(ref) || ref.includes('@{')) return undefined;
  const path = repo.startsWith('file://') ? decodeURIComponent(new URL(repo).pathname) : repo;
  let gitDir: string;
  try {
    const dotGit = join(path, '.git');
    const pointer = existsSync(dotGit) && statSync(dotGit).isFile() ? /^gitdir: (.+)$/m.exec(readFileSync(dotGit, 'utf8')) : null;
    if (existsSync(dotGit) && statSync(dotGit).isDirectory()) gitDir = dotGit;
    // A linked worktree's `.git` is a file naming its git directory.
    else if (pointer) gitDir = resolve(path, pointer[1].trim());
    else if (existsSync(join(path, 'HEAD')) && existsSync(join(path, 'refs'))) gitDir = path;
    else return undefined;
    // A linked worktree keeps its refs in the common directory.
    const common = join(gitDir, 'commondir');
    if (existsSync(common)) gitDir = resolve(gitDir, readFileSync(common, 'utf8').trim());
    if (existsSync(join(gitDir, 'reftable'))) return undefined;
    return refInFiles(gitDir, `refs/heads/${ref}`) !== undefined || refInFiles(gitDir, `refs/tags/${ref}`) !== undefined;
  } catch {
    return undefined;
  }
}

export class GitRefProbe implements ModuleRefProbe {
  constructor(
    private readonly secrets: SecretSource,
    private readonly http: Fetch = (...a) => fetch(...a),
    private readonly lsRemote: GitLsRemote = gitLsRemote,
  ) {}

  async probe(module: ModuleRef): Promise<ModuleRefResult> {
    const repo = module.gitRepo;
    if (/^(ssh|git):\/\//.test(repo) || /^[\w.-]+@[\w.-]+:/.test(repo))
      return { status: 'unchecked', detail: `${repo} is an SSH repository; ${module.ref} is checked when the runner clones it` };
    if (isAbsolute(repo) || repo.startsWith('file://')) return this.local(repo, module.ref);
    return this.https(/^https?:\/\//.test(repo) ? repo : `https://${repo}`, module);
  }

  private async local(repo: string, ref: string): Promise<ModuleRefResult> {
    const exists = localRefExists(repo, ref);
    if (exists !== undefined) return exists ? { status: 'found' } : { status: 'missing', detail: `${repo} has no branch or tag ${ref}` };
    try {
      const refs = await this.lsRemote(repo);
      return matches(refs, ref) ? { status: 'found' } : { status: 'missing', detail: `${repo} has no branch or tag ${ref}` };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { status: 'unchecked', detail: `git is not installed here; ${ref} is checked when the runner clones ${repo}` };
      return { status: 'unreachable', detail: `${repo} could not be read with git ls-remote` };
    }
  }

  private async https(url: string, module: ModuleRef): Promise<ModuleRefResult> {
    const headers: Record<string, string> = { 'user-agent': 'git/2.45 (stack-jobs pre-flight)', 'git-protocol': 'version=0' };
    if (module.gitTokenSecretRef) {
      const token = await this.secrets.get(module.gitTokenSecretRef);
      headers.authorization = `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
    }
    const discovery = `${url.replace(/\/$/, '')}/info/refs?service=git-upload-pack`;
    let res: Response;
    try {
      res = await this.http(discovery, { headers, redirect: 'follow', signal: AbortSignal.timeout(REF_PROBE_TIMEOUT_MS) });
    } catch (e) {
      const why =
        (e as Error).name === 'TimeoutError'
          ? `no answer within ${REF_PROBE_TIMEOUT_MS / 1000} s`
          : ((e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name);
      return { status: 'unreachable', detail: `${url} could not be reached (${why})` };
    }
    if (res.status === 401 || res.status === 403) {
      const hint = module.gitTokenSecretRef ? `the token in ${module.gitTokenSecretRef} was refused` : 'the repository needs a token (gitTokenSecretRef)';
      return { status: 'unreachable', detail: `${url} refused access (HTTP ${res.status}): ${hint}` };
    }
    if (res.status === 404) return { status: 'missing', detail: `${url} is not a repository (HTTP 404)` };
    if (!res.ok) return { status: 'unreachable', detail: `${url} answered HTTP ${res.status}` };
    const refs = parseAdvertisedRefs(await res.text());
    if (refs.length === 0) return { status: 'unreachable', detail: `${url} did not answer as a git repository` };
    return matches(refs, module.ref) ? { status: 'found' } : { status: 'missing', detail: `${url} has no branch or tag ${module.ref}` };
  }
}
