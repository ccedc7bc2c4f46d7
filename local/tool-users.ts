/**
 * Local mode started as root runs each org's IaC commands under that org's own uid, as separate Fargate tasks keep
 * orgs apart on AWS: module code of one org then reads neither another org's running tool (its `/proc/<pid>/environ`,
 * with that org's credentials) nor its workspaces or state files. The uids are allocated from LOCAL_TOOL_UID_BASE up,
 * one per org on first use, and kept in the data directory (`tool-uids.json`), so an org's state files stay its own
 * across restarts. Only local mode allocates; the runner is told the uid (STACKJOBS_TOOL_UID), as on AWS.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Above the ranges distributions give users and system accounts (and `nobody`, 65534). */
export const LOCAL_TOOL_UID_BASE = 200000;

export interface ToolIdentity {
  uid: number;
  gid: number;
}

export class LocalToolUsers {
  private readonly file: string;
  private readonly byOrg: Record<string, number>;

  constructor(dataDir: string) {
    this.file = join(dataDir, 'tool-uids.json');
    this.byOrg = existsSync(this.file) ? (JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, number>) : {};
  }

  /** The org's uid (and a gid of the same number, a group nobody else is in), allocated and saved on first use. */
  of(org: string): ToolIdentity {
    let uid = this.byOrg[org];
    if (uid === undefined) {
      uid = Math.max(LOCAL_TOOL_UID_BASE - 1, ...Object.values(this.byOrg)) + 1;
      this.byOrg[org] = uid;
      // Saved before any file is owned by it: a restart never gives the uid to another org.
      writeFileSync(`${this.file}.tmp`, `${JSON.stringify(this.byOrg, null, 2)}\n`, { mode: 0o600 });
      renameSync(`${this.file}.tmp`, this.file);
    }
    return { uid, gid: uid };
  }
}
