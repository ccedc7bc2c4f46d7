/**
 * The preview's workspace saved beside its plan, so an approved update restores it instead of cloning and running
 * `init` again: the clone at its commit with what init made in the module directory (`.terraform/`, the dependency lock
 * file). Archived with the system `tar` (GNU tar, in the image; it refuses absolute and `..` member names on
 * extraction), checked for secret values first, and verified by its SHA-256 before it is restored.
 */
import { execFile } from 'node:child_process';
import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import type { SecretRegistry } from './redactor';

const run = promisify(execFile);

/** Above this the workspace is not saved (the update clones and initialises again): a bound on upload and storage. */
export const SAVED_WORKSPACE_MAX_BYTES = 512 * 1024 * 1024;

export type Archived = { saved: true; bytes: number } | { saved: false; why: string };

/** Every regular file under `dir` (symbolic links are archived as links, never followed), with its size. */
async function filesUnder(dir: string): Promise<Array<{ path: string; size: number }>> {
  const out: Array<{ path: string; size: number }> = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else if (entry.isFile()) out.push({ path, size: (await lstat(path)).size });
  }
  return out;
}

/**
 * Archives `root` (the workspace's module directory) into `archive`, unless it is too large or a file in it holds a
 * known secret value (a module could write one there): then nothing is written, and the update initialises again.
 */
export async function archiveWorkspace(root: string, archive: string, registry: SecretRegistry): Promise<Archived> {
  const files = await filesUnder(root);
  const total = files.reduce((sum, f) => sum + f.size, 0);
  if (total > SAVED_WORKSPACE_MAX_BYTES) return { saved: false, why: `it holds ${total} bytes, more than ${SAVED_WORKSPACE_MAX_BYTES}` };
  const patterns = registry.patterns();
  if (patterns.length > 0)
    for (const f of files) {
      const body = await readFile(f.path);
      if (patterns.some((p) => body.includes(p))) return { saved: false, why: `${relative(root, f.path)} holds a secret value` };
    }
  await run('tar', ['-C', dirname(root), '-czf', archive, basename(root)]);
  return { saved: true, bytes: (await stat(archive)).size };
}

/** Extracts an archive made by archiveWorkspace back into `root`'s parent (the same workspace layout). */
export async function restoreWorkspace(archive: string, root: string): Promise<void> {
  await run('tar', ['-C', dirname(root), '-xzf', archive, '--no-same-owner']);
}
