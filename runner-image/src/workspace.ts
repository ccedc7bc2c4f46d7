/**
 * The per-job, per-phase working directory `<workDir>/stack-jobs/<jobId>/{module,config,state,logs}`, handed to the
 * tool's uid before its first command, and beside it `<jobId>.runner/`, which stays the runner's alone: what the runner
 * checks and then uploads (the saved workspace's archive, the redacted plan, refresh and outputs documents) is written
 * there, where no process of the tool (module code, or what it left running) can replace it between check and upload.
 */
import { chmod, chown, lchown, lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { reownTree, type ToolUser } from './tool-user';

export interface Workspace {
  root: string;
  module: string;
  config: string;
  state: string;
  logs: string;
  /** The runner's own files (never the tool's). */
  runner: string;
  /** The plan an apply runs: the runner's, readable by the tool's group only, changed by nobody else (lockPlanDir). */
  plan: string;
}

/** Creates a fresh workspace (a leftover from an earlier attempt of the same job is removed first). */
export async function createWorkspace(workDir: string, jobId: string): Promise<Workspace> {
  const root = join(workDir, 'stack-jobs', jobId);
  const runner = `${root}.runner`;
  const plan = `${root}.plan`;
  await Promise.all([root, runner, plan].map((dir) => rm(dir, { recursive: true, force: true })));
  const ws: Workspace = {
    root,
    module: join(root, 'module'),
    config: join(root, 'config'),
    state: join(root, 'state'),
    logs: join(root, 'logs'),
    runner,
    plan,
  };
  // 0700: the workspace holds the plan and the tool's state; nobody else on the host reads it.
  for (const dir of [ws.module, ws.config, ws.state, ws.logs, ws.runner, ws.plan]) await mkdir(dir, { recursive: true, mode: 0o700 });
  return ws;
}

/**
 * Removes the workspace. One handed to a tool's uid is first made the runner's from the top down (reownTree), while
 * processes the tool left may still run: a recursive removal by path through a tree they can change could be steered
 * through a link they swap in, outside the workspace.
 */
export async function removeWorkspace(ws: Workspace, tool?: ToolUser): Promise<void> {
  const runner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  if (tool) await reownTree(ws.root, runner, { dir: 0o700, file: 0o600 }, runner).catch(() => undefined);
  await Promise.all([ws.root, ws.runner, ws.plan].map((dir) => rm(dir, { recursive: true, force: true, maxRetries: 3 })));
}

/**
 * The plan an apply runs, made readable by the tool (its group) and by nobody else, and changeable by no one but the
 * runner: neither the file nor its directory is the tool's, so no process of the tool's uid (one an earlier job of
 * the org left running, in local mode) can change or replace what was verified before the apply reads it.
 */
export async function lockPlanDir(ws: Workspace, tool: ToolUser | undefined): Promise<void> {
  if (!tool) return;
  const runner = { uid: process.getuid?.() ?? 0 };
  await chown(ws.plan, runner.uid, tool.gid);
  await chmod(ws.plan, 0o750);
  for (const name of await readdir(ws.plan)) {
    await lchown(join(ws.plan, name), runner.uid, tool.gid);
    if ((await lstat(join(ws.plan, name))).isFile()) await chmod(join(ws.plan, name), 0o640);
  }
}
