/** The per-job, per-phase working directory `<workDir>/stack-jobs/<jobId>/{module,config,state,logs}`. */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

export interface Workspace {
  root: string;
  module: string;
  config: string;
  state: string;
  logs: string;
}

/** Creates a fresh workspace (a leftover from an earlier attempt of the same job is removed first). */
export async function createWorkspace(workDir: string, jobId: string): Promise<Workspace> {
  const root = join(workDir, 'stack-jobs', jobId);
  await rm(root, { recursive: true, force: true });
  const ws: Workspace = { root, module: join(root, 'module'), config: join(root, 'config'), state: join(root, 'state'), logs: join(root, 'logs') };
  // 0700: the workspace holds the plan and the tool's state; nobody else on the host reads it.
  for (const dir of [ws.module, ws.config, ws.state, ws.logs]) await mkdir(dir, { recursive: true, mode: 0o700 });
  return ws;
}

export async function removeWorkspace(ws: Workspace): Promise<void> {
  await rm(ws.root, { recursive: true, force: true, maxRetries: 3 });
}
