/**
 * Local mode started as root runs each org's IaC commands under that org's own uid, as separate Fargate tasks keep
 * orgs apart on AWS: module code of one org then reads neither another org's running tool (its `/proc/<pid>/environ`,
 * with that org's credentials) nor its workspaces or state files. The uids are allocated from LOCAL_TOOL_UID_BASE up,
 * one per org on first use (2,000,000,000 up), and kept in the data directory (`tool-uids.json`), so an org's state files stay its own
 * across restarts. Only local mode allocates; the runner is told the uid (STACKJOBS_TOOL_UID), as on AWS.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Far above the ranges distributions give users, system accounts and `nobody` (65534), and above the subordinate uid
 * ranges `useradd` hands out for rootless containers (65,536 per user from 100000), which a host uid must not share.
 */
export const LOCAL_TOOL_UID_BASE = 2_000_000_000;

export interface ToolIdentity {
  uid: number;
  gid: number;
}

export class LocalToolUsers {
  private readonly file: string;
  /** A Map: an org named like an object's own property (`constructor`) is an org like any other. */
  private readonly byOrg: Map<string, number>;

  constructor(dataDir: string) {
    this.file = join(dataDir, 'tool-uids.json');
    const saved = existsSync(this.file) ? (JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, number>) : {};
    this.byOrg = new Map(Object.entries(saved));
  }

  /**
   * The org's uid (and a gid of the same number, a group nobody else is in), allocated and saved on first use.
   * Synchronous: local mode's one process never allocates two at once.
   */
  of(org: string): ToolIdentity {
    let uid = this.byOrg.get(org);
    if (uid === undefined) {
      uid = Math.max(LOCAL_TOOL_UID_BASE - 1, ...this.byOrg.values()) + 1;
      this.byOrg.set(org, uid);
      // Saved before any file is owned by it: a restart never gives the uid to another org.
      writeFileSync(`${this.file}.tmp`, `${JSON.stringify(Object.fromEntries(this.byOrg), null, 2)}\n`, { mode: 0o600 });
      renameSync(`${this.file}.tmp`, this.file);
    }
    return { uid, gid: uid };
  }
}
