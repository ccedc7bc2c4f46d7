/**
 * A git directory's refs read from its files, without starting git (a process start forks the caller: local mode's
 * one large process, the runner): a ref's loose file, else its line in `packed-refs`. Only node:fs here, so the
 * runner's bundle takes nothing else with it. Callers ask git itself whatever this cannot say plainly.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** A full commit id (SHA-1), as refs and `git rev-parse` print it. */
export const COMMIT_RE = /^[0-9a-f]{40}$/;

/**
 * Where a ref is in `gitDir`: its loose file's content (trimmed: a commit id, or a symbolic "ref: …"), or the commit
 * its `packed-refs` line names; undefined when neither has it, or when the name would leave `refs/`. The loose file
 * wins, as in git.
 */
export function refInFiles(gitDir: string, ref: string): { loose: string } | { packed: string } | undefined {
  if (!ref.startsWith('refs/') || ref.split('/').some((part) => part === '..' || part === '')) return undefined;
  const loose = join(gitDir, ref);
  if (existsSync(loose) && statSync(loose).isFile()) return { loose: readFileSync(loose, 'utf8').trim() };
  const packed = join(gitDir, 'packed-refs');
  if (!existsSync(packed)) return undefined;
  for (const line of readFileSync(packed, 'utf8').split('\n')) {
    // "<sha> <ref>" lines; "#" is the header, "^<sha>" the commit an annotated tag above it peels to.
    const space = line.indexOf(' ');
    if (/^[0-9a-f]{40,64}$/.test(line.slice(0, space)) && line.slice(space + 1) === ref) return { packed: line.slice(0, space) };
  }
  return undefined;
}
