/**
 * Optional hardening: run the IaC tool under its own uid. The tool runs a module's code (providers, external
 * data sources, local-exec), and as the runner's own user it could read the runner's initial environment from
 * /proc/<pid>/environ. Under another uid it cannot (environ is readable by its owner only). This takes effect only
 * when the runner runs as root and STACKJOBS_TOOL_UID is set; the workspace is then handed to that uid before the
 * first tool command (the clone, the var file, the backend credentials file and the downloaded plan included).
 */
import { chmod, lchown, lstat, mkdir, readdir } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';

export interface ToolUser {
  uid: number;
  gid: number;
}

/**
 * The identity to spawn the tool with, or undefined (same user as the runner). `warn` says why a configured uid
 * is not used: only root can switch users.
 */
export function toolUserFrom(
  config: { STACKJOBS_TOOL_UID?: number; STACKJOBS_TOOL_GID?: number },
  currentUid: number | undefined,
  warn: (message: string) => void,
): ToolUser | undefined {
  const uid = config.STACKJOBS_TOOL_UID;
  if (uid === undefined) return undefined;
  if (currentUid !== 0) {
    warn(`STACKJOBS_TOOL_UID is set but the runner does not run as root: the tool runs as the runner's own user (uid ${currentUid ?? 'unknown'})`);
    return undefined;
  }
  return { uid, gid: config.STACKJOBS_TOOL_GID ?? uid };
}

/**
 * Gives `dir` and everything under it to the tool's user. Symbolic links are re-owned themselves (lchown), never
 * followed: a module repository can contain links pointing anywhere.
 */
export async function chownTree(dir: string, user: ToolUser): Promise<void> {
  await lchown(dir, user.uid, user.gid);
  if (!(await lstat(dir)).isDirectory()) return;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(path, user);
    else await lchown(path, user.uid, user.gid);
  }
}

/**
 * Re-owns a tree that processes of another uid may be changing (a stack's state directory, which the org's tools own),
 * without ever acting on a path they could swap for a link: each directory is first made the runner's, so that nothing
 * but the runner can change its entries, then its entries are re-owned (links themselves, never followed), and only
 * then is it handed on. Precondition: the entry `path` itself sits in a directory only the runner can change.
 * `modes` also sets each directory's and regular file's mode (a migration making a tree private).
 */
export async function reownTree(
  path: string,
  to: ToolUser,
  modes?: { dir: number; file: number },
  runner = { uid: 0, gid: 0 },
  /** Refuse an entry another uid owns (claimLocalStateDir: another stack's state, nested by a chosen key prefix). */
  ownersOnly = false,
): Promise<void> {
  if (ownersOnly) {
    const { uid } = await lstat(path);
    if (uid !== runner.uid && uid !== to.uid) throw new Error(`${path} belongs to another uid (another stack's state?): refusing to hand it to the tool`);
  }
  await lchown(path, runner.uid, runner.gid);
  const stat = await lstat(path);
  // A second name for a file elsewhere (another org's state, hard-linked in while one uid was shared, or a file of the
  // host's): never handed on. Giving it to the runner (above) gives nothing away.
  if (!stat.isDirectory() && stat.nlink > 1 && to.uid !== runner.uid)
    throw new Error(`${path} is a hard link to a file with other names: refusing to hand it to the tool`);
  if (stat.isDirectory()) {
    // Writable by nobody else while its entries are re-owned (its mode may have let others write).
    await chmod(path, 0o700);
    for (const entry of await readdir(path)) await reownTree(join(path, entry), to, modes, runner, ownersOnly);
    await chmod(path, modes ? modes.dir : stat.mode & 0o7777);
  } else if (stat.isFile() && modes) {
    await chmod(path, modes.file);
  }
  await lchown(path, to.uid, to.gid);
}

/**
 * Local mode (STACKJOBS_LOCAL_STATE_ROOT): the directory of a local backend's state file, when it lies under that root,
 * becomes the tool's alone (0700, its tree re-owned by reownTree), and every directory between the root and it the
 * runner's and traverse-only (0711), made so from the root down: each is the runner's before anything in it is touched,
 * so no link can be swapped in on the way. Each org's tool has its own uid there, so one org's module code reads no
 * other org's state. A state path outside the root is left as it is (the catalog chose it; the runner changes nothing
 * it did not make), and a path through a symbolic link is refused.
 */
export async function claimLocalStateDir(statePath: string, root: string | undefined, user: ToolUser, runner = { uid: 0, gid: 0 }): Promise<void> {
  if (!root) return;
  const rel = relative(root, dirname(statePath));
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return;
  const parts = rel.split(sep);
  let dir = root;
  for (const [i, part] of parts.entries()) {
    dir = join(dir, part);
    // Another runner may make the same directory at the same moment.
    await mkdir(dir, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
    const stat = await lstat(dir);
    if (!stat.isDirectory()) throw new Error(`the local state path ${dir} is not a directory (a symbolic link?): refusing to use it`);
    if (i < parts.length - 1) {
      // A directory on the way that a tool's uid owns is a stack's own: a key prefix (the catalog's choice) must not
      // place this stack inside it, where the claim would open it to this org.
      if (stat.uid !== runner.uid) throw new Error(`the local state path ${dir} is another stack's state directory: refusing to put a stack inside it`);
      await lchown(dir, runner.uid, runner.gid);
      await chmod(dir, 0o711);
    } else {
      // Nor may this stack's directory hold another's (its path the parent of another org's stacks).
      await reownTree(dir, user, undefined, runner, true);
      await chmod(dir, 0o700);
    }
  }
}
