/** Local mode's uid per org for IaC commands (local/tool-users.ts). */
import { lchownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localToolUsers } from '../../local/local-mode';
import { LOCAL_TOOL_UID_BASE, LocalToolUsers } from '../../local/tool-users';

let dataDir: string;
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'tool-uids-'));
});
afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

it('gives each org its own uid (gid the same), the same one every time', () => {
  const users = new LocalToolUsers(dataDir);
  const acme = users.of('acme');
  const globex = users.of('globex');
  expect(acme).toEqual({ uid: LOCAL_TOOL_UID_BASE, gid: LOCAL_TOOL_UID_BASE });
  expect(globex).toEqual({ uid: LOCAL_TOOL_UID_BASE + 1, gid: LOCAL_TOOL_UID_BASE + 1 });
  expect(users.of('acme')).toEqual(acme);
  // An org named like an object's own property is an org like any other.
  expect(users.of('constructor')).toEqual({ uid: LOCAL_TOOL_UID_BASE + 2, gid: LOCAL_TOOL_UID_BASE + 2 });
});

it('keeps the allocation in the data directory: after a restart an org has its uid and a new org never gets a used one', () => {
  const first = new LocalToolUsers(dataDir);
  const acme = first.of('acme');
  const globex = first.of('globex');
  expect(JSON.parse(readFileSync(join(dataDir, 'tool-uids.json'), 'utf8'))).toEqual({ acme: acme.uid, globex: globex.uid });
  expect(statSync(join(dataDir, 'tool-uids.json')).mode & 0o777).toBe(0o600);
  const restarted = new LocalToolUsers(dataDir);
  expect(restarted.of('globex')).toEqual(globex);
  expect(restarted.of('initech').uid).toBe(globex.uid + 1);
});

(process.getuid?.() === 0 ? it : it.skip)(
  "makes a data directory's state tree from a version with one shared tool user root's and private at start (root only)",
  async () => {
    const stack = join(dataDir, 'state', 'stack-jobs', 'acme', 'dev', 'res-1');
    mkdirSync(stack, { recursive: true, mode: 0o755 });
    writeFileSync(join(stack, 'terraform.tfstate'), '{"secret":"x"}', { mode: 0o644 });
    symlinkSync('/etc/hostname', join(stack, 'link'));
    const legacy = (p: string) => lchownSync(p, 65534, 65534);
    for (const p of ['state', 'state/stack-jobs', 'state/stack-jobs/acme', 'state/stack-jobs/acme/dev', 'state/stack-jobs/acme/dev/res-1'])
      legacy(join(dataDir, p));
    legacy(join(stack, 'terraform.tfstate'));
    legacy(join(stack, 'link'));
    const hostname = statSync('/etc/hostname');
    expect(await localToolUsers(dataDir)).toBeInstanceOf(LocalToolUsers);
    const mode = (p: string) => ({ uid: lstatSync(p).uid, mode: lstatSync(p).mode & 0o777 });
    expect(mode(join(dataDir, 'state'))).toEqual({ uid: 0, mode: 0o711 });
    expect(mode(join(dataDir, 'state', 'stack-jobs', 'acme'))).toEqual({ uid: 0, mode: 0o700 });
    expect(mode(stack)).toEqual({ uid: 0, mode: 0o700 });
    expect(mode(join(stack, 'terraform.tfstate'))).toEqual({ uid: 0, mode: 0o600 });
    // The link itself is root's; what it points to is untouched.
    expect(lstatSync(join(stack, 'link')).uid).toBe(0);
    expect(statSync('/etc/hostname')).toMatchObject({ uid: hostname.uid, mode: hostname.mode });
  },
);
