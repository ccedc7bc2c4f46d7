/** Hardening: the IaC tool under its own uid (STACKJOBS_TOOL_UID) when the runner runs as root. */
import { spawn as mockedSpawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRunnerConfig } from '../../runner-image/src/config';
import { supervise, type SuperviseOptions } from '../../runner-image/src/supervisor';
import { chownTree, claimLocalStateDir, reownTree, toolUserFrom } from '../../runner-image/src/tool-user';
import { createWorkspace, removeWorkspace } from '../../runner-image/src/workspace';

// spawn is observed, and by default really spawns (the root-only test runs a real command).
jest.mock('node:child_process', () => {
  const actual = jest.requireActual<typeof import('node:child_process')>('node:child_process');
  return { ...actual, spawn: jest.fn(actual.spawn) };
});
const spawnMock = mockedSpawn as unknown as jest.Mock;

const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
const asRoot = isRoot ? it : it.skip;

afterEach(() => spawnMock.mockClear());

describe('toolUserFrom', () => {
  it('switches only when a uid is configured and the runner is root; the gid defaults to the uid', () => {
    const warn = jest.fn();
    expect(toolUserFrom({}, 0, warn)).toBeUndefined();
    expect(toolUserFrom({ STACKJOBS_TOOL_UID: 1000 }, 0, warn)).toEqual({ uid: 1000, gid: 1000 });
    expect(toolUserFrom({ STACKJOBS_TOOL_UID: 1000, STACKJOBS_TOOL_GID: 2000 }, 0, warn)).toEqual({ uid: 1000, gid: 2000 });
    expect(warn).not.toHaveBeenCalled();
    expect(toolUserFrom({ STACKJOBS_TOOL_UID: 1000 }, 1000, warn)).toBeUndefined();
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('does not run as root'));
  });

  it('reads STACKJOBS_TOOL_UID/GID as positive integers (empty = unset; 0 or junk is a configuration error)', () => {
    const base = {
      STACKJOBS_JOB_ID: 'sj_01jsrnmwpnnc6n62h06xafcgxv',
      STACKJOBS_PHASE: 'preview',
      STACKJOBS_TASK_TOKEN: 't',
      STACKJOBS_JOBS_TABLE: 'j',
      STACKJOBS_ARTIFACTS_BUCKET: 'b',
    };
    expect(readRunnerConfig({ ...base, STACKJOBS_TOOL_UID: '1000' })).toMatchObject({ STACKJOBS_TOOL_UID: 1000 });
    expect(readRunnerConfig({ ...base, STACKJOBS_TOOL_UID: '' }).STACKJOBS_TOOL_UID).toBeUndefined();
    expect(() => readRunnerConfig({ ...base, STACKJOBS_TOOL_UID: '0' })).toThrow(/STACKJOBS_TOOL_UID/);
    expect(() => readRunnerConfig({ ...base, STACKJOBS_TOOL_GID: 'staff' })).toThrow(/STACKJOBS_TOOL_GID/);
  });
});

describe('supervise with a tool user', () => {
  const options = (over: Partial<SuperviseOptions>): SuperviseOptions => ({
    bin: 'id',
    args: ['-u'],
    cwd: '/',
    env: { PATH: process.env.PATH },
    timeoutMs: 10000,
    graceMs: 1000,
    onStdout: async () => undefined,
    onStderr: async () => undefined,
    ...over,
  });

  it('spawns with uid/gid when given, and without them otherwise (still its own process group, nothing inherited)', async () => {
    const spawn = spawnMock;
    spawn
      .mockImplementationOnce(() => {
        throw new Error('stop here');
      })
      .mockImplementationOnce(() => {
        throw new Error('stop here');
      });
    await expect(supervise(options({ user: { uid: 1000, gid: 1001 } }))).rejects.toThrow('stop here');
    expect(spawn.mock.calls[0][2]).toEqual({
      cwd: '/',
      env: { PATH: process.env.PATH },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      uid: 1000,
      gid: 1001,
    });
    await expect(supervise(options({}))).rejects.toThrow('stop here');
    expect(spawn.mock.calls[1][2]).not.toHaveProperty('uid');
    expect(spawn.mock.calls[1][2]).not.toHaveProperty('gid');
  });

  asRoot('really runs the command as that user (root only)', async () => {
    let out = '';
    const result = await supervise(options({ user: { uid: NOBODY, gid: NOBODY }, onStdout: async (c) => void (out += c.toString()) }));
    expect(result.exitCode).toBe(0);
    expect(out.trim()).toBe(String(NOBODY));
  });
});

describe('chownTree', () => {
  asRoot('hands the workspace to the tool user, re-owning symbolic links without following them (root only)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chown-'));
    try {
      const outside = join(dir, 'outside-target');
      writeFileSync(outside, 'not part of the workspace');
      const ws = join(dir, 'ws');
      mkdirSync(join(ws, 'module', 'repo'), { recursive: true });
      writeFileSync(join(ws, 'module', 'repo', 'main.tf'), '');
      symlinkSync(outside, join(ws, 'module', 'repo', 'link'));
      await chownTree(ws, { uid: NOBODY, gid: NOBODY });
      for (const p of [ws, join(ws, 'module'), join(ws, 'module', 'repo'), join(ws, 'module', 'repo', 'main.tf'), join(ws, 'module', 'repo', 'link')]) {
        expect({ p, uid: lstatSync(p).uid, gid: lstatSync(p).gid }).toEqual({ p, uid: NOBODY, gid: NOBODY });
      }
      expect(statSync(outside).uid).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('claimLocalStateDir (local mode: a local backend stack directory per org uid)', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'state-root-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));
  const ORG_UID = 2_000_000_007;

  asRoot("gives the stack's directory to the tool alone and keeps every directory above it the runner's and traverse-only", async () => {
    const stack = join(root, 'stack-jobs', 'acme', 'dev', 'res-1');
    // A directory a former version gave to one shared tool user, with a state file in it, then made root's at start.
    mkdirSync(stack, { recursive: true, mode: 0o755 });
    writeFileSync(join(stack, 'terraform.tfstate'), '{}');
    chownTree(join(root, 'stack-jobs'), { uid: NOBODY, gid: NOBODY });
    // Not yet made root's (local mode's start does that): a directory on the way that another uid owns is refused.
    await expect(claimLocalStateDir(join(stack, 'terraform.tfstate'), root, { uid: ORG_UID, gid: ORG_UID })).rejects.toThrow(/another stack's state directory/);
    await reownTree(join(root, 'stack-jobs'), { uid: 0, gid: 0 }, { dir: 0o700, file: 0o600 });
    await claimLocalStateDir(join(stack, 'terraform.tfstate'), root, { uid: ORG_UID, gid: ORG_UID });
    expect(statSync(stack)).toMatchObject({ uid: ORG_UID, gid: ORG_UID });
    expect(statSync(stack).mode & 0o777).toBe(0o700);
    expect(statSync(join(stack, 'terraform.tfstate')).uid).toBe(ORG_UID);
    for (const above of [join(root, 'stack-jobs'), join(root, 'stack-jobs', 'acme'), join(root, 'stack-jobs', 'acme', 'dev')]) {
      expect({ above, uid: statSync(above).uid, mode: statSync(above).mode & 0o777 }).toEqual({ above, uid: 0, mode: 0o711 });
    }
    // A stack not seen before: made, the same way.
    const fresh = join(root, 'stack-jobs', 'acme', 'prod', 'res-2');
    await claimLocalStateDir(join(fresh, 'terraform.tfstate'), root, { uid: ORG_UID, gid: ORG_UID });
    expect({ uid: statSync(fresh).uid, mode: statSync(fresh).mode & 0o777 }).toEqual({ uid: ORG_UID, mode: 0o700 });
  });

  asRoot("follows no link the stack's own tool swaps in while its directory is re-owned (a process the org left running)", async () => {
    const stack = join(root, 'stack-jobs', 'acme', 'dev', 'res-1');
    // Traverse-only, as local mode makes its state directory: the org's process reaches its stack's directory.
    chmodSync(root, 0o711);
    mkdirSync(join(stack, 'nested'), { recursive: true });
    writeFileSync(join(stack, 'nested', 'terraform.tfstate'), '{}');
    await claimLocalStateDir(join(stack, 'terraform.tfstate'), root, { uid: ORG_UID, gid: ORG_UID });
    // Outside: root's, with a file in it. The org's process swaps `nested` for a link to it, over and over.
    const outside = mkdtempSync(join(tmpdir(), 'state-target-'));
    writeFileSync(join(outside, 'passwd'), 'root:x:0:0\n');
    const swapper = mockedSpawn(
      'sh',
      [
        '-c',
        `cd '${stack}' || exit 1; while :; do mv nested n2 2>/dev/null; ln -s '${outside}' nested 2>/dev/null; rm -f nested 2>/dev/null; mv n2 nested 2>/dev/null; done`,
      ],
      { uid: ORG_UID, gid: ORG_UID, stdio: 'ignore' },
    );
    try {
      for (let i = 0; i < 150; i++) await claimLocalStateDir(join(stack, 'terraform.tfstate'), root, { uid: ORG_UID, gid: ORG_UID });
      // Still swapping when the last claim ended: the claims ran against it.
      expect(swapper.exitCode).toBeNull();
    } finally {
      const exited = swapper.exitCode !== null || swapper.signalCode !== null ? Promise.resolve() : new Promise((r) => swapper.once('exit', r));
      swapper.kill('SIGKILL');
      await exited;
    }
    expect({ dir: statSync(outside).uid, file: statSync(join(outside, 'passwd')).uid }).toEqual({ dir: 0, file: 0 });
    rmSync(outside, { recursive: true, force: true });
  });

  asRoot("never hands on a hard link to a file with other names (another org's state, linked in while a uid was shared)", async () => {
    const stack = join(root, 'stack-jobs', 'acme', 'dev', 'res-1');
    mkdirSync(stack, { recursive: true });
    const other = join(root, 'other-org-state');
    writeFileSync(other, '{"secret":"globex"}', { mode: 0o600 });
    linkSync(other, join(stack, 'terraform.tfstate'));
    await expect(claimLocalStateDir(join(stack, 'terraform.tfstate'), root, { uid: ORG_UID, gid: ORG_UID })).rejects.toThrow(
      /is a hard link to a file with other names: refusing to hand it to the tool/,
    );
    expect(statSync(other).uid).toBe(0);
  });

  asRoot('removes a workspace handed to the tool without following a link a process of the tool swaps in meanwhile', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'rm-target-'));
    writeFileSync(join(outside, 'keep'), 'host file\n');
    chmodSync(root, 0o711);
    try {
      for (let round = 0; round < 20; round++) {
        const ws = await createWorkspace(root, `sj_round${round}`);
        for (let i = 0; i < 20; i++) mkdirSync(join(ws.module, `d${i}`, 'inner'), { recursive: true });
        chmodSync(join(root, 'stack-jobs'), 0o711);
        chownTree(ws.root, { uid: ORG_UID, gid: ORG_UID });
        const swapper = mockedSpawn(
          'sh',
          [
            '-c',
            `cd '${ws.module}' || exit 1; while :; do for i in 0 1 2 3 4 5 6 7 8 9; do mv d$i x$i 2>/dev/null; ln -s '${outside}' d$i 2>/dev/null; done; done`,
          ],
          { uid: ORG_UID, gid: ORG_UID, stdio: 'ignore' },
        );
        try {
          await removeWorkspace(ws, { uid: ORG_UID, gid: ORG_UID });
        } finally {
          const exited = swapper.exitCode !== null || swapper.signalCode !== null ? Promise.resolve() : new Promise((r) => swapper.once('exit', r));
          swapper.kill('SIGKILL');
          await exited;
        }
        expect(existsSync(ws.root)).toBe(false);
      }
      expect(readFileSync(join(outside, 'keep'), 'utf8')).toBe('host file\n');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  asRoot("refuses a state path that a chosen key prefix nests inside another org's stack, or that holds another org's stacks", async () => {
    const OTHER = ORG_UID + 1;
    const theirs = join(root, 'stack-jobs', 'globex', 'dev', 'res-b');
    await claimLocalStateDir(join(theirs, 'terraform.tfstate'), root, { uid: OTHER, gid: OTHER });
    writeFileSync(join(theirs, 'terraform.tfstate'), '{"globex":"state"}', { mode: 0o600 });
    lchownSync(join(theirs, 'terraform.tfstate'), OTHER, OTHER);
    // acme's key prefix "stack-jobs/globex/dev/res-b": its stack directory would sit inside globex's.
    await expect(claimLocalStateDir(join(theirs, 'acme', 'dev', 'res-a', 'terraform.tfstate'), root, { uid: ORG_UID, gid: ORG_UID })).rejects.toThrow(
      /is another stack's state directory: refusing to put a stack inside it/,
    );
    // A stack whose directory is globex's env directory (an org named "stack-jobs", say): it would take globex's stacks.
    await expect(claimLocalStateDir(join(root, 'stack-jobs', 'globex', 'dev', 'terraform.tfstate'), root, { uid: ORG_UID, gid: ORG_UID })).rejects.toThrow(
      /belongs to another uid \(another stack's state\?\): refusing to hand it to the tool/,
    );
    expect({ dir: statSync(theirs).uid, file: statSync(join(theirs, 'terraform.tfstate')).uid, mode: statSync(theirs).mode & 0o777 }).toEqual({
      dir: OTHER,
      file: OTHER,
      mode: 0o700,
    });
  });

  asRoot('changes nothing outside the root, and refuses a path through a symbolic link', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'state-outside-'));
    try {
      const before = statSync(outside);
      await claimLocalStateDir(join(outside, 'x', 'terraform.tfstate'), root, { uid: ORG_UID, gid: ORG_UID });
      await claimLocalStateDir(join(root, '..', 'terraform.tfstate'), root, { uid: ORG_UID, gid: ORG_UID });
      expect(statSync(outside)).toMatchObject({ uid: before.uid, mode: before.mode });
      expect(lstatSync(join(outside, 'x'), { throwIfNoEntry: false })).toBeUndefined();
      // A link in the state tree (module code of the stack's own org could plant one) is never followed.
      mkdirSync(join(root, 'stack-jobs', 'acme'), { recursive: true });
      symlinkSync(outside, join(root, 'stack-jobs', 'acme', 'dev'));
      await expect(
        claimLocalStateDir(join(root, 'stack-jobs', 'acme', 'dev', 'res', 'terraform.tfstate'), root, { uid: ORG_UID, gid: ORG_UID }),
      ).rejects.toThrow(/is not a directory \(a symbolic link\?\): refusing to use it/);
      expect(statSync(outside)).toMatchObject({ uid: before.uid, mode: before.mode });
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});
