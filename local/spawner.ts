/**
 * Local mode's runner tasks start from a small helper process, not from local mode itself. Node starts a child by
 * forking the parent, and the fork copies the parent's page tables: local mode holds the stand-ins, every handler and
 * the synthesized app (hundreds of MB), so each runner it started blocked its event loop for about 40 ms on the bench
 * machine (6 % of the 100 × 20 drain, every API request and Step Functions transition waiting behind it). The helper
 * is a bare Node of a few tens of MB: forking it takes a few milliseconds, in another process.
 *
 * The helper starts what it is asked to, reports each child's pid, output and exit over IPC, and exits when local mode
 * goes (its IPC channel closes); the children it started are then left to the data directory's recovery, as before.
 * Signals go straight to a child's pid: a kill needs no round trip.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';

/** What local mode keeps of a runner: the parts of a ChildProcess it (and its tests) use. */
export interface SpawnedProcess extends EventEmitter {
  readonly pid: number | undefined;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  readonly stdout: NodeJS.ReadableStream;
  readonly stderr: NodeJS.ReadableStream;
  kill(signal?: NodeJS.Signals): boolean;
}

type FromHelper =
  | { id: number; type: 'spawned'; pid: number }
  | { id: number; type: 'out' | 'err'; data: string }
  | { id: number; type: 'exit'; code: number | null; signal: NodeJS.Signals | null }
  | { id: number; type: 'error'; message: string }
  | { id: 0; type: 'ready' };

interface SpawnRequest {
  id: number;
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
}

/** The helper: plain JavaScript for `node -e`, so it loads nothing but Node itself. */
const HELPER = `
const { spawn } = require('node:child_process');
const send = (m) => { if (process.connected) process.send(m); };
process.on('message', (r) => {
  let child;
  try {
    child = spawn(r.file, r.args, { env: r.env, cwd: r.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    send({ id: r.id, type: 'error', message: String(e && e.message) });
    return;
  }
  child.on('error', (e) => send({ id: r.id, type: 'error', message: String(e && e.message) }));
  if (child.pid !== undefined) send({ id: r.id, type: 'spawned', pid: child.pid });
  child.stdout.setEncoding('utf8').on('data', (data) => send({ id: r.id, type: 'out', data }));
  child.stderr.setEncoding('utf8').on('data', (data) => send({ id: r.id, type: 'err', data }));
  // Reported once its output is read ('close'), or shortly after it exits if a process it left holds its pipes.
  child.on('exit', (code, signal) => {
    let sent = false;
    const done = () => { if (!sent) { sent = true; send({ id: r.id, type: 'exit', code, signal }); } };
    child.once('close', done);
    setTimeout(done, 200);
  });
});
process.on('disconnect', () => process.exit(0));
// A terminal's Ctrl-C reaches the whole process group: local mode decides when the helper goes (it disconnects).
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => undefined);
send({ id: 0, type: 'ready' });
`;

class RemoteChild extends EventEmitter implements SpawnedProcess {
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.pid === undefined || this.exitCode !== null || this.signalCode !== null) return false;
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** One message from the helper about this child. */
  receive(m: FromHelper): void {
    switch (m.type) {
      case 'spawned':
        this.pid = m.pid;
        this.emit('spawn');
        return;
      case 'out':
      case 'err':
        (m.type === 'out' ? this.stdout : this.stderr).write(m.data);
        return;
      case 'error':
        // Before the pid, spawn() is listening; after it, an error nobody listens for must not throw in local mode.
        if (this.listenerCount('error') > 0) this.emit('error', new Error(m.message));
        return;
      case 'exit':
        this.exitCode = m.code;
        this.signalCode = m.signal;
        this.stdout.end();
        this.stderr.end();
        this.emit('exit', m.code, m.signal);
    }
  }
}

export class Spawner {
  private seq = 0;
  private readonly children = new Map<number, RemoteChild>();

  private constructor(private readonly helper: ChildProcess) {
    helper.on('message', (m: FromHelper) => {
      const child = this.children.get(m.id);
      if (!child) return;
      child.receive(m);
      if (m.type === 'exit') this.children.delete(m.id);
    });
    // A helper that died (killed from outside) takes no more requests. What it had started may still run: each child
    // is watched by its pid and reported ended, with no code, when it is gone (how it ended is not known here, so it
    // is not called lost: a runner that died without reporting is then found by its heartbeat timeout).
    helper.on('exit', () => {
      const watched = [...this.children.values()];
      this.children.clear();
      const timer = setInterval(() => {
        for (const child of watched.splice(0)) {
          let alive = child.pid !== undefined;
          try {
            if (alive) process.kill(child.pid!, 0);
          } catch {
            alive = false;
          }
          if (alive) watched.push(child);
          else child.receive({ id: 0, type: 'exit', code: null, signal: null });
        }
        if (watched.length === 0) clearInterval(timer);
      }, 250);
      timer.unref();
    });
  }

  /** Starts the helper and waits until it takes requests. */
  static async start(): Promise<Spawner> {
    const helper = spawn(process.execPath, ['-e', HELPER], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    // Ready once its handlers are in place (a Ctrl-C before then would still end it).
    await new Promise<void>((resolve, reject) => {
      helper.once('message', () => resolve());
      helper.once('error', reject);
      helper.once('exit', (code, signal) => reject(new Error(`the spawner helper exited before it was ready (${signal ?? code})`)));
    });
    return new Spawner(helper);
  }

  /** Starts `file` with `args` from the helper; resolves once the child has a pid (or rejects with why it has none). */
  spawn(file: string, args: string[], options: { env: Record<string, string>; cwd?: string }): Promise<SpawnedProcess> {
    if (!this.helper.connected) return Promise.reject(new Error('the spawner has stopped'));
    const id = ++this.seq;
    const child = new RemoteChild();
    this.children.set(id, child);
    const request: SpawnRequest = { id, file, args, env: options.env, ...(options.cwd ? { cwd: options.cwd } : {}) };
    return new Promise((resolve, reject) => {
      const failed = (e: Error) => {
        this.children.delete(id);
        reject(e);
      };
      const exited = () => failed(new Error(`${file} did not start`));
      child.once('error', failed);
      child.once('exit', exited);
      child.once('spawn', () => {
        child.off('error', failed);
        child.off('exit', exited);
        resolve(child);
      });
      this.helper.send(request);
    });
  }

  /** The helper's own pid. */
  get helperPid(): number | undefined {
    return this.helper.pid;
  }

  /** Stops the helper (children it started keep running: stop them first). */
  async stop(): Promise<void> {
    if (this.helper.exitCode !== null || this.helper.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.helper.once('exit', () => r()));
    this.helper.disconnect();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 2000)))]);
    clearTimeout(timer);
    if (this.helper.exitCode === null && this.helper.signalCode === null) this.helper.kill('SIGKILL');
  }
}
