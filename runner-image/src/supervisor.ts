/**
 * Runs one IaC command as the leader of its own process group, so a stop reaches every process the tool
 * started (providers, plugins): SIGINT to the group first (Terraform and Pulumi stop gracefully and release
 * state locks on it), SIGKILL to the group after the grace period.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

export type StopReason = 'timeout' | 'cancelled';

/**
 * How long output may keep arriving after the tool exited and its process group was killed. Longer than a log
 * chunk's whole upload retry budget (LOG_UPLOAD_RETRY, about 24 s), so a slow sink never loses output.
 */
export const ORPHAN_PIPE_LIMIT_MS = 120_000;

export interface SuperviseOptions {
  bin: string;
  args: string[];
  cwd: string;
  /** The complete child environment: nothing is inherited implicitly. */
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  graceMs: number;
  onStdout: (chunk: Buffer) => Promise<void>;
  onStderr: (chunk: Buffer) => Promise<void>;
  /** Aborting stops the command (SIGTERM to the runner, or a lost task). */
  signal?: AbortSignal;
  /** Run the command as this user (the runner must be root); otherwise as the runner's own user. */
  user?: { uid: number; gid: number };
}

export interface SuperviseResult {
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  /** Why the runner stopped the command, if it did. */
  stopped?: StopReason;
  /** True when SIGINT was not enough and the group was killed. */
  killed: boolean;
  /** Set when the binary could not be started at all (e.g. ENOENT). */
  spawnError?: Error;
}

const signalGroup = (pid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
};

async function pump(stream: Readable, sink: (chunk: Buffer) => Promise<void>): Promise<void> {
  let failure: unknown;
  // Awaiting the sink pauses the pipe: a slow log upload slows the tool instead of growing memory.
  for await (const chunk of stream) {
    if (failure !== undefined) continue; // keep draining so the tool never blocks on a full pipe
    try {
      await sink(chunk as Buffer);
    } catch (e) {
      failure = e;
    }
  }
  if (failure !== undefined) throw failure;
}

export async function supervise(options: SuperviseOptions): Promise<SuperviseResult> {
  const child = spawn(options.bin, options.args, {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.user ? { uid: options.user.uid, gid: options.user.gid } : {}),
  });
  let stopped: StopReason | undefined;
  let killed = false;
  let killTimer: NodeJS.Timeout | undefined;
  let exited = false;

  const stop = (reason: StopReason) => {
    if (stopped || exited || child.pid === undefined) return;
    stopped = reason;
    signalGroup(child.pid, 'SIGINT');
    killTimer = setTimeout(() => {
      killed = true;
      signalGroup(child.pid!, 'SIGKILL');
    }, options.graceMs);
  };

  const timeout = setTimeout(() => stop('timeout'), options.timeoutMs);
  const onAbort = () => stop('cancelled');
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort);

  const pumps = Promise.all([pump(child.stdout, options.onStdout), pump(child.stderr, options.onStderr)]);
  // Observed once the tool has exited (below); handled here so an early sink failure is not an unhandled rejection.
  pumps.catch(() => undefined);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });

  try {
    const result = await exit;
    exited = true;
    if (result.error) return { exitCode: null, exitSignal: null, killed: false, spawnError: result.error };
    // A grandchild may still hold the pipes open after the leader exited: after the grace period, kill the group so
    // the pipes reach EOF. Whatever the tool wrote is still read to the end: a slow sink (S3 retrying an upload)
    // only delays this, it never drops output. Only a writer that escaped the group can hold a pipe past
    // ORPHAN_PIPE_LIMIT_MS, and then the pipes are cut.
    const lingerTimer = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), options.graceMs);
    let cut = false;
    const cutTimer = setTimeout(
      () => {
        cut = true;
        child.stdout.destroy();
        child.stderr.destroy();
      },
      Math.max(options.graceMs, ORPHAN_PIPE_LIMIT_MS),
    );
    try {
      // A sink failure (e.g. the log upload) surfaces here, after the tool is done.
      await pumps;
    } catch (e) {
      if (!cut) throw e;
    } finally {
      clearTimeout(lingerTimer);
      clearTimeout(cutTimer);
    }
    return { exitCode: result.code, exitSignal: result.signal, killed, ...(stopped ? { stopped } : {}) };
  } finally {
    clearTimeout(timeout);
    clearTimeout(killTimer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}
