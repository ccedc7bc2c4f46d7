/** Local mode's uid per org for IaC commands (local/tool-users.ts). */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
