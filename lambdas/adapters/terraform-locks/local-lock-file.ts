/**
 * The local backend's lock: Terraform takes a POSIX record lock (fcntl F_SETLK) on the state file and writes who holds
 * it to `.<state file name>.lock.info` beside it; unlocking removes the file. A killed terraform loses the OS lock with
 * its process but leaves the info file, which then binds nobody: the next run takes the lock and overwrites it
 * (checked with terraform 1.11.4, test/e2e/terraform-state-lock.e2e.test.ts). So whether a lock is held is read
 * from the kernel's lock table (/proc/locks, Linux), not from the file.
 *
 * Read where this process runs: in local mode the runner's state directory (config.path) is on the same machine; a
 * deployed API finds nothing there, as the state lives on the runner.
 */
import { readFile, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { BackendCredential } from '../../domain/schemas';
import { parseLockInfo, type FoundLock } from './lock-info';

/** The kernel's lock table, or undefined on a system without /proc/locks (then whether a lock is held is unknown). */
export type ProcLocksReader = () => Promise<string | undefined>;

const readProcLocks: ProcLocksReader = () => readFile('/proc/locks', 'utf8').catch(() => undefined);

export const lockInfoPath = (statePath: string) => join(dirname(statePath), `.${basename(statePath)}.lock.info`);

/** Linux's dev_t split (glibc gnu_dev_major/minor), as /proc/locks prints it in hex. */
function majorMinor(dev: bigint): [bigint, bigint] {
  return [((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn), (dev & 0xffn) | ((dev >> 12n) & ~0xffn)];
}

/**
 * The pid of the process holding a lock on the file (device, inode), from /proc/locks lines such as
 * `1: POSIX  ADVISORY  WRITE 15980 fe:00:2351680 0 EOF`; lines marked `->` are waiters, not holders.
 */
export function lockHolderPid(procLocks: string, dev: bigint, ino: bigint): number | undefined {
  const [major, minor] = majorMinor(dev);
  for (const line of procLocks.split('\n')) {
    const m = /^\d+:\s+(->\s+)?\S+\s+\S+\s+\S+\s+(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/i.exec(line);
    if (!m || m[1]) continue;
    if (BigInt(`0x${m[3]}`) === major && BigInt(`0x${m[4]}`) === minor && BigInt(m[5]) === ino) return Number(m[2]);
  }
  return undefined;
}

export class LocalLockFiles {
  constructor(private readonly procLocks: ProcLocksReader = readProcLocks) {}

  /** The lock on `<config.path>/<stateKey>` (where the runner puts a local backend's state), if its info file exists. */
  async find(backend: BackendCredential, stateKey: string): Promise<FoundLock[]> {
    // Without a path the state lives in the runner's workspace, gone with it.
    if (!backend.config.path) return [];
    const statePath = join(backend.config.path, stateKey);
    const infoPath = lockInfoPath(statePath);
    const raw = await readFile(infoPath, 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
    if (raw === undefined) return [];
    const held = await this.held(statePath);
    return [
      {
        lock: parseLockInfo(raw, 'local-file', held),
        async remove() {
          // Re-read just before: a run that took the lock since has written another ID. (A run taking it between this
          // read and the unlink would lose only its info file; its OS lock still protects the state.)
          const now = await readFile(infoPath, 'utf8').catch(() => undefined);
          if (now !== raw) return false;
          await unlink(infoPath).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
          return true;
        },
      },
    ];
  }

  private async held(statePath: string): Promise<boolean | undefined> {
    const table = await this.procLocks();
    if (table === undefined) return undefined;
    const file = await stat(statePath, { bigint: true }).catch(() => undefined);
    return file ? lockHolderPid(table, file.dev, file.ino) !== undefined : false;
  }
}
