/**
 * The preview's workspace saved beside its plan, so an approved update restores it instead of cloning and running
 * `init` again: the clone at its commit with what init made in the module directory (`.terraform/`, the dependency lock
 * file). Archived with the system `tar` (GNU tar, in the image; it refuses absolute and `..` member names on
 * extraction), then the archive itself is checked for secret values (every member's name, link target and content, and
 * the gzip and zip files it holds: zips are read by yauzl), and verified by its SHA-256 before it is restored. Checking
 * what was archived, not the directory before archiving it, leaves no moment in which module code (a process the plan
 * left running, say) could write a file that is archived unchecked; and it lets the archive be made while the plan runs.
 */
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { lstat, readdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { createGunzip, gunzipSync } from 'node:zlib';
import { fromBufferPromise } from 'yauzl';
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
 * Archives `root` (the workspace's module directory) into `archive`, unless it is too large, or the archive made holds a
 * known secret value (a module could write one there): then no archive is left, and the update initialises again.
 */
export async function archiveWorkspace(
  root: string,
  archive: string,
  registry: SecretRegistry,
  maxInflatedBytes = MAX_INFLATED_BYTES,
  maxBytes = SAVED_WORKSPACE_MAX_BYTES,
): Promise<Archived> {
  const files = await filesUnder(root);
  const total = files.reduce((sum, f) => sum + f.size, 0);
  if (total > maxBytes) return { saved: false, why: `it holds ${total} bytes, more than ${maxBytes}` };
  // GNU format: a long name is one long-name member, never split between the ustar prefix and name fields, where a
  // secret value with a "/" in it would be in no one field whole.
  await run('tar', ['--format=gnu', '-C', dirname(root), '-czf', archive, basename(root)]);
  const patterns = registry.patterns();
  // The bound holds for what was archived too: files the plan wrote meanwhile count (and the check never buffers more).
  const bytes = (await stat(archive)).size;
  const found =
    bytes > maxBytes
      ? `its archive holds ${bytes} bytes, more than ${maxBytes}`
      : patterns.length > 0
        ? await secretInArchive(archive, `${basename(root)}/`, patterns, maxInflatedBytes, maxBytes)
        : undefined;
  if (found) {
    await rm(archive, { force: true });
    return { saved: false, why: found };
  }
  return { saved: true, bytes };
}

/**
 * Why the gzipped tar `archive` may not be saved, or undefined: a member whose name or link target holds a secret value,
 * or whose content does (secretIn). Members are read one at a time from the stream; names are told relative to `prefix`.
 */
async function secretInArchive(
  archive: string,
  prefix: string,
  patterns: readonly Buffer[],
  maxInflatedBytes: number,
  maxBytes: number,
): Promise<string | undefined> {
  // One budget for everything inflated inside members while checking: a small zip of huge members cannot take the task's memory.
  const budget = { left: maxInflatedBytes };
  const relative = (name: string) => (name.startsWith(prefix) ? name.slice(prefix.length) : name);
  const file = createReadStream(archive);
  const gunzip = createGunzip();
  // A read error ends the check with it (pipe() alone would leave the loop waiting): the archive is then not saved.
  file.on('error', (e) => gunzip.destroy(e));
  try {
    for await (const member of tarMembers(file.pipe(gunzip), maxBytes)) {
      // The name itself is not told: it holds the value. GNU long names and link targets, pax attributes: a name, not content.
      const name = Buffer.from(member.name);
      if (patterns.some((p) => member.header.includes(p) || name.includes(p) || (member.meta && member.body.includes(p))))
        return 'a member has a secret value in its name or link target';
      if (member.meta) continue;
      const found = await secretIn(member.body, patterns, 0, budget);
      if (found) return `${relative(member.name)} ${found}`;
    }
    return undefined;
  } finally {
    file.destroy();
    gunzip.destroy();
  }
}

interface TarMember {
  /** The member's name (a GNU long name when one came before it). */
  name: string;
  /** Its 512-byte header block. */
  header: Buffer;
  /** What follows the header: a file's content, or a long name or pax attributes (meta). */
  body: Buffer;
  meta: boolean;
}

/** Bytes arriving in chunks, taken in exact lengths. */
class ByteQueue {
  private chunks: Buffer[] = [];
  length = 0;
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
  }
  take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0];
      const used = Math.min(head.length, n - filled);
      head.copy(out, filled, 0, used);
      filled += used;
      if (used === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(used);
    }
    this.length -= n;
    return out;
  }
}

const BLOCK = 512;

/**
 * The members of a tar stream as GNU tar writes it (ustar headers; `L`/`K` long names, `x`/`g` pax attributes), one at
 * a time. A size in base-256 (past 8 GiB) or a stream that ends inside a member fails: such an archive is not checked,
 * so it is not saved.
 */
async function* tarMembers(stream: AsyncIterable<Buffer>, maxBytes: number): AsyncGenerator<TarMember> {
  let total = 0;
  const queue = new ByteQueue();
  const source = stream[Symbol.asyncIterator]();
  const fill = async (n: number): Promise<boolean> => {
    while (queue.length < n) {
      const next = await source.next();
      if (next.done) return false;
      queue.push(next.value);
    }
    return true;
  };
  let longName: string | undefined;
  for (;;) {
    if (!(await fill(BLOCK))) {
      if (queue.length === 0) return;
      throw new Error('the archive ends inside a header');
    }
    const header = queue.take(BLOCK);
    if (header.every((b) => b === 0)) continue;
    if (header[124] & 0x80) throw new Error('a member is larger than the check reads');
    const size = parseInt(header.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    if (!Number.isSafeInteger(size) || size < 0) throw new Error('a member has no readable size');
    // Never more buffered than the workspace may hold (a file that grew while it was archived).
    total += size;
    if (total > maxBytes) throw new Error(`it inflates past ${maxBytes} bytes`);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (!(await fill(padded))) throw new Error('the archive ends inside a member');
    const body = queue.take(padded).subarray(0, size);
    const type = String.fromCharCode(header[156]);
    const field = (start: number, length: number) =>
      header
        .subarray(start, start + length)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const meta = type === 'L' || type === 'K' || type === 'x' || type === 'g';
    // POSIX ustar ("ustar\0") has a name prefix at 345; GNU's format ("ustar  ") keeps other fields there.
    const ustarPrefix = header.subarray(257, 263).toString('latin1') === 'ustar\0' ? field(345, 155) : '';
    const name = longName ?? (ustarPrefix ? `${ustarPrefix}/${field(0, 100)}` : field(0, 100));
    if (type === 'L') longName = body.toString('utf8').replace(/\0.*$/s, '');
    else if (!meta) longName = undefined;
    yield { name, header, body, meta };
  }
}

/** How deep archives inside archives are opened, and how much the whole check may inflate: past either, it is not saved. */
const MAX_NESTING = 3;
const MAX_INFLATED_BYTES = SAVED_WORKSPACE_MAX_BYTES;

/**
 * Compressed formats the check cannot open (Node's zlib reads gzip and deflate only), by their leading bytes. A file
 * in one of them could hide a secret value, so a workspace holding one is not saved.
 */
const UNCHECKED_FORMATS: ReadonlyArray<{ name: string; magic: Buffer }> = [
  { name: 'xz', magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) },
  { name: 'zstd', magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]) },
  { name: 'bzip2', magic: Buffer.from('BZh') },
  { name: '7z', magic: Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]) },
  { name: 'rar', magic: Buffer.from([0x52, 0x61, 0x72, 0x21, 0x1a, 0x07]) },
  { name: 'lz4', magic: Buffer.from([0x04, 0x22, 0x4d, 0x18]) },
  { name: 'lzip', magic: Buffer.from('LZIP') },
];

/** bzip2's header: "BZh", a block size digit, then the block magic (the digits of pi). */
const isBzip2 = (body: Buffer) =>
  body.length >= 10 && body[3] >= 0x31 && body[3] <= 0x39 && body.subarray(4, 10).equals(Buffer.from([0x31, 0x41, 0x59, 0x26, 0x53, 0x59]));

function uncheckedFormat(body: Buffer): string | undefined {
  const found = UNCHECKED_FORMATS.find((f) => body.subarray(0, f.magic.length).equals(f.magic));
  return found && (found.name !== 'bzip2' || isBzip2(body)) ? found.name : undefined;
}

/**
 * Why `body` may not be saved, or undefined: a secret value in it, or inside the gzip or zip it is (a module's
 * `archive_file` zips what it is given, which may be a credential: compressed, the raw bytes hide it). A compressed
 * file that cannot be opened and checked is not saved either.
 */
async function secretIn(body: Buffer, patterns: readonly Buffer[], depth: number, budget: { left: number }): Promise<string | undefined> {
  if (patterns.some((p) => body.includes(p))) return depth === 0 ? 'holds a secret value' : 'holds a secret value inside an archive';
  const unchecked = uncheckedFormat(body);
  if (unchecked) return `is a compressed file (${unchecked}) that cannot be checked for secret values`;
  const gzip = body.length > 2 && body[0] === 0x1f && body[1] === 0x8b;
  const zip = body.length > 4 && body.readUInt32LE(0) === 0x04034b50;
  if (!gzip && !zip) return undefined;
  if (depth >= MAX_NESTING) return 'holds archives nested too deep to check';
  try {
    // Inflated one member at a time, each within what is left of the budget, and checked before the next.
    if (gzip) {
      const out = gunzipSync(body, { maxOutputLength: Math.max(1, budget.left) });
      budget.left -= out.length;
      return await secretIn(out, patterns, depth + 1, budget);
    }
    for await (const member of zipMembers(body, budget)) {
      const found = await secretIn(member, patterns, depth + 1, budget);
      if (found) return found;
    }
    return undefined;
  } catch (e) {
    return `is an archive that could not be checked (${(e as Error).message.slice(0, 120)})`;
  }
}

/**
 * The contents of a zip's members one by one, read by yauzl (the central directory, zip64, sizes checked against
 * what inflates), each within what is left of the budget: a member that would pass it fails the check.
 */
async function* zipMembers(zip: Buffer, budget: { left: number }): AsyncGenerator<Buffer> {
  const file = await fromBufferPromise(zip, { lazyEntries: true, validateEntrySizes: true });
  try {
    for await (const entry of file.eachEntry()) {
      if (entry.fileName.endsWith('/')) continue;
      if (entry.isEncrypted()) throw new Error('an encrypted zip member');
      if (entry.uncompressedSize > budget.left) throw new Error(`${entry.fileName} inflates past what the check may inflate`);
      const parts: Buffer[] = [];
      let size = 0;
      for await (const chunk of await file.openReadStreamPromise(entry)) {
        size += (chunk as Buffer).length;
        if (size > budget.left) throw new Error(`${entry.fileName} inflates past what the check may inflate`);
        parts.push(chunk as Buffer);
      }
      budget.left -= size;
      yield Buffer.concat(parts);
    }
  } finally {
    file.close();
  }
}

/** Extracts an archive made by archiveWorkspace back into `root`'s parent (the same workspace layout). */
export async function restoreWorkspace(archive: string, root: string): Promise<void> {
  await run('tar', ['-C', dirname(root), '-xzf', archive, '--no-same-owner']);
}
