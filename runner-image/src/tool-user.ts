/**
 * Optional hardening: run the IaC tool under its own uid. The tool runs a module's code (providers, external
 * data sources, local-exec), and as the runner's own user it could read the runner's initial environment from
 * /proc/<pid>/environ. Under another uid it cannot (environ is readable by its owner only). This takes effect only
 * when the runner runs as root and STACKJOBS_TOOL_UID is set; the workspace is then handed to that uid before the
 * first tool command (the clone, the var file, the backend credentials file and the downloaded plan included).
 */
import { lchown, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

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
