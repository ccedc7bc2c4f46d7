/**
 * The preview's saved workspace goes to S3 only without secret values in it: in plain files, and inside the gzip and
 * zip files a module may leave there (Terraform's archive_file zips whatever it is given, a credential included).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
