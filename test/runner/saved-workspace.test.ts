/**
 * The preview's saved workspace goes to S3 only without secret values in it: in plain files, and inside the gzip and
 * zip files a module may leave there (Terraform's archive_file zips whatever it is given, a credential included).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { crc32, deflateRawSync, gzipSync } from 'node:zlib';
import { archiveWorkspace } from '../../runner-image/src/saved-workspace';
import { SecretRegistry } from '../../runner-image/src/redactor';

const SECRET = 'PLANTED-workspace-s3cr3t-0123456789';

/** A zip of `members` as zip tools write it: local headers, then the central directory and its end record. */
function zipOf(members: Record<string, Buffer>, method: 0 | 8 = 8): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, content] of Object.entries(members)) {
    const data = method === 8 ? deflateRawSync(content) : content;
    const nameBytes = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc32(content), 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(content.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0);
    entry.writeUInt16LE(20, 4);
    entry.writeUInt16LE(20, 6);
    entry.writeUInt16LE(method, 10);
    entry.writeUInt32LE(crc32(content), 16);
    entry.writeUInt32LE(data.length, 20);
    entry.writeUInt32LE(content.length, 24);
    entry.writeUInt16LE(nameBytes.length, 28);
    entry.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, data);
    central.push(entry, nameBytes);
    offset += local.length + nameBytes.length + data.length;
  }
  const dir = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(members).length, 8);
  end.writeUInt16LE(Object.keys(members).length, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}

let work: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'saved-ws-'));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

/** A module directory with main.tf and `extra`, archived with the secret registered. */
async function archive(extra: Record<string, Buffer>, maxInflatedBytes?: number) {
  const root = join(work, 'repo');
  mkdirSync(join(root, 'build'), { recursive: true });
  writeFileSync(join(root, 'main.tf'), 'resource "terraform_data" "x" {}\n');
  for (const [name, body] of Object.entries(extra)) writeFileSync(join(root, name), body);
  const registry = new SecretRegistry();
  registry.add(SECRET);
  return archiveWorkspace(root, join(work, 'ws.tar.gz'), registry, maxInflatedBytes);
}

it('saves a workspace whose archives hold no secret', async () => {
  const plain = Buffer.from('exports.handler = async () => "ok";\n');
  expect(await archive({ 'build/fn.zip': zipOf({ 'index.js': plain }), 'build/data.gz': gzipSync(plain) })).toMatchObject({ saved: true });
});

it.each([
  [
    'a zip (deflated), as archive_file writes it',
    () => ({ 'build/fn.zip': zipOf({ 'index.js': Buffer.from('x'), 'config.json': Buffer.from(`{"key":"${SECRET}"}`) }) }),
  ],
  ['a gzip', () => ({ 'build/data.gz': gzipSync(Buffer.from(`token=${SECRET}\n`)) })],
  ['a zip inside a gzip', () => ({ 'build/bundle.gz': gzipSync(zipOf({ 'inner.txt': Buffer.from(SECRET) })) })],
])('does not save a workspace with the secret inside %s', async (_what, files) => {
  expect(await archive(files())).toEqual({ saved: false, why: expect.stringMatching(/^build\/\S+ holds a secret value inside an archive$/) });
});

it('does not save a stored (uncompressed) zip member holding the secret either: its raw bytes show it', async () => {
  expect(await archive({ 'build/fn.zip': zipOf({ 'config.json': Buffer.from(SECRET) }, 0) })).toEqual({
    saved: false,
    why: 'build/fn.zip holds a secret value',
  });
});

it('does not save a compressed file it cannot open and check', async () => {
  const damaged = zipOf({ 'a.txt': Buffer.from('hello') }).subarray(0, 40);
  expect(await archive({ 'build/broken.zip': damaged })).toEqual({
    saved: false,
    why: expect.stringMatching(/^build\/broken\.zip is an archive that could not be checked/),
  });
});

it('inflates one member at a time within one budget for the whole check: a small zip of large members is not saved, never held at once', async () => {
  // Three members of 400 KB of zeros (a few hundred bytes each, deflated), a budget of 1 MB for everything.
  const big = Buffer.alloc(400 * 1024);
  const bomb = zipOf({ 'a.bin': big, 'b.bin': big, 'c.bin': big });
  expect(bomb.length).toBeLessThan(10 * 1024);
  // Within the budget (two members, 800 KB): saved. The same archive beside it, and a third member: not.
  expect(await archive({ 'build/ok.zip': zipOf({ 'a.bin': big, 'b.bin': big }) }, 1024 * 1024)).toEqual({ saved: true, bytes: expect.any(Number) });
  expect(await archive({ 'build/bomb.zip': bomb }, 1024 * 1024)).toEqual({
    saved: false,
    why: expect.stringMatching(/^build\/bomb\.zip is an archive that could not be checked/),
  });
});

/**
 * Zip64 archives (what `zip -fz`, and any zip tool past 65,535 members or 4 GiB, writes: the end record points to a
 * zip64 one). Made here by Info-ZIP 3.0 (`zip -q -fz -X`) from a JSON file of 2,000 spaces, with and without the
 * planted secret after them: deflated, so the secret is not in the raw bytes.
 */
const ZIP64_WITH_SECRET =
  'UEsDBC0AAAAIAEGWh10HZ14U//////////8LABQAY29uZmlnLmpzb24BABAABggAAAAAAABGAAAAAAAAAKtWKkhMUbJSUhgFo2AUjIJRMApGwZAHSjpK2amVwIo9wMfRL8TVRbc8vyi7uCAxOVW32Di5yLhE18DQyNjE1MzcwlKpFgBQSwECHgMtAAAACABBloddB2deFEYAAAD/////CwAMAAAAAAABAAAApIEAAAAAY29uZmlnLmpzb24BAAgABggAAAAAAABQSwYGLAAAAAAAAAAeAy0AAAAAAAAAAAABAAAAAAAAAAEAAAAAAAAARQAAAAAAAACDAAAAAAAAAFBLBgcAAAAAyAAAAAAAAAABAAAAUEsFBgAAAAABAAEARQAAAP////8AAA==';
const ZIP64_CLEAN =
  'UEsDBC0AAAAIAEGWh113ZvQN//////////8KABQAY2xlYW4uanNvbgEAEADaBwAAAAAAABoAAAAAAAAAq1YqSExRslJSGAWjYBSMglEwCkbBkAdKtQBQSwECHgMtAAAACABBloddd2b0DRoAAAD/////CgAMAAAAAAABAAAApIEAAAAAY2xlYW4uanNvbgEACADaBwAAAAAAAFBLBgYsAAAAAAAAAB4DLQAAAAAAAAAAAAEAAAAAAAAAAQAAAAAAAABEAAAAAAAAAFYAAAAAAAAAUEsGBwAAAACaAAAAAAAAAAEAAABQSwUGAAAAAAEAAQBEAAAA/////wAA';

it('reads zip64 archives: a clean one is saved, the secret inside one is found', async () => {
  const withSecret = Buffer.from(ZIP64_WITH_SECRET, 'base64');
  expect(withSecret.includes(Buffer.from(SECRET))).toBe(false);
  // The end record's central directory offset is 0xffffffff: the real one is in the zip64 record.
  expect(withSecret.readUInt32LE(withSecret.length - 22 + 16)).toBe(0xffffffff);
  expect(await archive({ 'build/clean.zip': Buffer.from(ZIP64_CLEAN, 'base64') })).toEqual({ saved: true, bytes: expect.any(Number) });
  expect(await archive({ 'build/fn.zip': withSecret })).toEqual({ saved: false, why: 'build/fn.zip holds a secret value inside an archive' });
});

/** `tool` compressing `input` (stdin to stdout), or undefined where the tool is not installed. */
function compressedBy(tool: string, args: string[], input: Buffer): Buffer | undefined {
  try {
    return execFileSync(tool, args, { input, stdio: ['pipe', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}

/** The leading bytes each format starts with, as its own tool writes them (checked against the tool where it is installed). */
const FORMATS: Array<[string, string[], Buffer]> = [
  ['xz', ['-c'], Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
  ['zstd', ['-q', '-c'], Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
  ['bzip2', ['-c'], Buffer.from([0x42, 0x5a, 0x68, 0x39, 0x31, 0x41, 0x59, 0x26, 0x53, 0x59])],
];

it.each(FORMATS)('does not save a %s file: it cannot be opened to look for a secret in it', async (tool, args, magic) => {
  // Varied bytes before the secret, so each tool entropy-codes it: none stores it as a raw literal (zstd does for short text).
  const input = Buffer.concat([...Array.from({ length: 8 }, () => Buffer.from(Array.from({ length: 256 }, (_, i) => i))), Buffer.from(SECRET.repeat(3))]);
  const made = compressedBy(tool, args, input);
  if (made) expect(made.subarray(0, magic.length)).toEqual(magic);
  // The tool's output where it is installed; else its header and bytes that are not the secret.
  const body = made ?? Buffer.concat([magic, Buffer.from('0123456789abcdef')]);
  expect(body.includes(Buffer.from(SECRET))).toBe(false);
  expect(await archive({ 'build/data.bin': body })).toEqual({
    saved: false,
    why: `build/data.bin is a compressed file (${tool}) that cannot be checked for secret values`,
  });
});

it('saves a plain file that merely starts with "BZh" (not bzip2: no block header after it)', async () => {
  expect(await archive({ 'build/notes.txt': Buffer.from('BZh is how bzip2 files start\n') })).toEqual({ saved: true, bytes: expect.any(Number) });
});

it.each([
  ['a file name', (root: string) => writeFileSync(join(root, `build/${SECRET}.txt`), 'plain\n')],
  ['a long file name (a GNU long-name member)', (root: string) => writeFileSync(join(root, `build/${'n'.repeat(120)}-${SECRET}.txt`), 'plain\n')],
  ['a symbolic link target', (root: string) => symlinkSync(`/nowhere/${SECRET}`, join(root, 'build/link'))],
])('does not save a workspace with the secret in %s', async (_what, plant) => {
  const root = join(work, 'repo');
  mkdirSync(join(root, 'build'), { recursive: true });
  plant(root);
  const registry = new SecretRegistry();
  registry.add(SECRET);
  const archived = await archiveWorkspace(root, join(work, 'ws.tar.gz'), registry);
  expect(archived).toEqual({ saved: false, why: 'a member has a secret value in its name or link target' });
  expect(existsSync(join(work, 'ws.tar.gz'))).toBe(false);
});

it('saves and restores a workspace with long and deeply nested names, every member read', async () => {
  const root = join(work, 'repo');
  const deep = join(root, ...Array.from({ length: 12 }, (_, i) => `dir-${i}-${'d'.repeat(12)}`));
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, `${'f'.repeat(150)}.txt`), 'deep\n');
  writeFileSync(join(root, 'main.tf'), 'resource "terraform_data" "x" {}\n');
  const registry = new SecretRegistry();
  registry.add(SECRET);
  expect(await archiveWorkspace(root, join(work, 'ws.tar.gz'), registry)).toEqual({ saved: true, bytes: expect.any(Number) });
  const listed = execFileSync('tar', ['-tzf', join(work, 'ws.tar.gz')], { encoding: 'utf8' });
  expect(listed).toContain(`${'f'.repeat(150)}.txt`);
  // The same long name holding the secret, in the same deep directory: found.
  writeFileSync(join(deep, `${'f'.repeat(150)}-2.txt`), `x=${SECRET}\n`);
  expect(await archiveWorkspace(root, join(work, 'ws.tar.gz'), registry)).toEqual({
    saved: false,
    why: expect.stringMatching(new RegExp(`^dir-0-d{12}/.*/${'f'.repeat(150)}-2\\.txt holds a secret value$`)),
  });
});

it('does not save an archive larger than the bound, whatever was written into the directory while it was archived', async () => {
  // The bound is checked on the archive made, not only on the directory before it (a file may grow meanwhile).
  const root = join(work, 'repo');
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'main.tf'), 'resource "terraform_data" "x" {}\n');
  const registry = new SecretRegistry();
  registry.add(SECRET);
  // 34 bytes of files (under the bound), a gzipped tar of more than 100 (over it).
  const archived = await archiveWorkspace(root, join(work, 'ws.tar.gz'), registry, undefined, 100);
  expect(archived).toEqual({ saved: false, why: expect.stringMatching(/^its archive holds \d+ bytes, more than 100$/) });
  expect(existsSync(join(work, 'ws.tar.gz'))).toBe(false);
});
