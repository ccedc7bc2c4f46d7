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
import { gunzipSync, inflateRawSync } from 'node:zlib';
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
export async function archiveWorkspace(root: string, archive: string, registry: SecretRegistry, maxInflatedBytes = MAX_INFLATED_BYTES): Promise<Archived> {
  const files = await filesUnder(root);
  const total = files.reduce((sum, f) => sum + f.size, 0);
  if (total > SAVED_WORKSPACE_MAX_BYTES) return { saved: false, why: `it holds ${total} bytes, more than ${SAVED_WORKSPACE_MAX_BYTES}` };
  const patterns = registry.patterns();
  // One budget for everything inflated while checking: a small zip of huge members cannot take the task's memory.
  const budget = { left: maxInflatedBytes };
  if (patterns.length > 0)
    for (const f of files) {
      const found = secretIn(await readFile(f.path), patterns, 0, budget);
      if (found) return { saved: false, why: `${relative(root, f.path)} ${found}` };
    }
  await run('tar', ['-C', dirname(root), '-czf', archive, basename(root)]);
  return { saved: true, bytes: (await stat(archive)).size };
}

/** How deep archives inside archives are opened, and how much the whole check may inflate: past either, it is not saved. */
const MAX_NESTING = 3;
const MAX_INFLATED_BYTES = SAVED_WORKSPACE_MAX_BYTES;

/**
 * Why `body` may not be saved, or undefined: a secret value in it, or inside the gzip or zip it is (a module's
 * `archive_file` zips what it is given, which may be a credential: compressed, the raw bytes hide it). A compressed
 * file that cannot be opened and checked is not saved either.
 */
function secretIn(body: Buffer, patterns: readonly Buffer[], depth: number, budget: { left: number }): string | undefined {
  if (patterns.some((p) => body.includes(p))) return depth === 0 ? 'holds a secret value' : 'holds a secret value inside an archive';
  const gzip = body.length > 2 && body[0] === 0x1f && body[1] === 0x8b;
  const zip = body.length > 4 && body.readUInt32LE(0) === 0x04034b50;
  if (!gzip && !zip) return undefined;
  if (depth >= MAX_NESTING) return 'holds archives nested too deep to check';
  // Inflated one member at a time, each within what is left of the budget, and checked before the next.
  const inflate = (data: Buffer, raw: boolean): Buffer => {
    const out = raw ? inflateRawSync(data, { maxOutputLength: Math.max(1, budget.left) }) : gunzipSync(data, { maxOutputLength: Math.max(1, budget.left) });
    budget.left -= out.length;
    return out;
  };
  try {
    for (const m of gzip ? [inflate(body, false)] : zipMembers(body, (data) => inflate(data, true))) {
      const found = secretIn(m, patterns, depth + 1, budget);
      if (found) return found;
    }
    return undefined;
  } catch (e) {
    return `is an archive that could not be checked (${(e as Error).message.slice(0, 120)})`;
  }
}

/** The contents of a zip's members one by one, read from its central directory (stored or deflated; anything else is refused). */
function* zipMembers(zip: Buffer, inflateRaw: (data: Buffer) => Buffer): Generator<Buffer> {
  // The end-of-central-directory record: its signature, searched from the end (a comment of up to 64 KiB may follow).
  let end = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--)
    if (zip.readUInt32LE(i) === 0x06054b50) {
      end = i;
      break;
    }
  if (end < 0) throw new Error('no zip central directory');
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error('a damaged zip central directory');
    const flags = zip.readUInt16LE(at + 8);
    const method = zip.readUInt16LE(at + 10);
    const size = zip.readUInt32LE(at + 20);
    const local = zip.readUInt32LE(at + 42);
    at += 46 + zip.readUInt16LE(at + 28) + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
    if (flags & 0x1) throw new Error('an encrypted zip member');
    if (zip.readUInt32LE(local) !== 0x04034b50) throw new Error('a damaged zip member');
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const data = zip.subarray(start, start + size);
    if (method === 0) yield data;
    else if (method === 8) yield inflateRaw(data);
    else throw new Error(`zip compression method ${method}`);
  }
}

/** Extracts an archive made by archiveWorkspace back into `root`'s parent (the same workspace layout). */
export async function restoreWorkspace(archive: string, root: string): Promise<void> {
  await run('tar', ['-C', dirname(root), '-xzf', archive, '--no-same-owner']);
}
