/**
 * Every item layout of the jobs table, in one place: what each item's keys are, by what it stores. The table holds
 * several kinds of item, told apart by the partition key's prefix; IAM scopes roles by these prefixes
 * (dynamodb:LeadingKeys), so the infra reads them from here too.
 *
 * | item | pk | sk | written by |
 * |---|---|---|---|
 * | job | `JOB#<jobId>` | `JOB` | job-repository.ts (and the runner, through it) |
 * | idempotency record | `IDEM#<sha256>` | `IDEM` | idempotency-repository.ts |
 * | approval ref (Slack button → job, notice) | `APR#<approvalId>` | `APR` | approval-item-repository.ts |
 * | approval task token | `TOKEN#<jobId>` | `TOKEN` | approval-item-repository.ts |
 * | lock-wait task token | `TOKEN#<jobId>` | `LOCKWAIT` | lock-repository.ts |
 * | stack lease | `LOCK#<org>/<env>/<resourceId>` | `LOCK` | lock-repository.ts |
 * | resource status | `RESOURCE#<org>/<env>/<resourceId>` | `RESOURCE` | resource-status-repository.ts |
 * | Slack link | `SLACKLINK#<teamId>#<userId>` | `SLACKLINK` | slack-link-repository.ts |
 *
 * Job items also carry index keys: `gsi1pk = STACK#<stackKey>` (byStackKeys), `gsi2pk = ORG#<org>` (byOrgKeys), and
 * while unfinished `gsi3pk = STACK#<stackKey>` (openByStackKeys); each index's sort key is the job id. The indexes
 * copy these keys only (table-definitions.ts).
 */

export const PREFIX = {
  job: 'JOB#',
  idempotency: 'IDEM#',
  approval: 'APR#',
  token: 'TOKEN#',
  lease: 'LOCK#',
  resource: 'RESOURCE#',
  slackLink: 'SLACKLINK#',
  slackLinkCode: 'SLACKCODE#',
} as const;

export interface ItemKey {
  pk: string;
  sk: string;
}

export const jobKey = (jobId: string): ItemKey => ({ pk: `${PREFIX.job}${jobId}`, sk: 'JOB' });
export const idempotencyKey = (key: string): ItemKey => ({ pk: `${PREFIX.idempotency}${key}`, sk: 'IDEM' });
export const approvalKey = (approvalId: string): ItemKey => ({ pk: `${PREFIX.approval}${approvalId}`, sk: 'APR' });
/** The approval task token's item: outside `JOB#*`, which is all the runner's task role may read. */
export const taskTokenKey = (jobId: string): ItemKey => ({ pk: `${PREFIX.token}${jobId}`, sk: 'TOKEN' });
/** The task token a job's execution parked on while it waits for its stack lock, kept like the approval's. */
export const lockWaitTokenKey = (jobId: string): ItemKey => ({ pk: `${PREFIX.token}${jobId}`, sk: 'LOCKWAIT' });
export const leaseKey = (stackKey: string): ItemKey => ({ pk: `${PREFIX.lease}${stackKey}`, sk: 'LOCK' });
export const resourceKey = (org: string, env: string, resourceId: string): ItemKey => ({ pk: `${PREFIX.resource}${org}/${env}/${resourceId}`, sk: 'RESOURCE' });
export const slackLinkKey = (teamId: string, userId: string): ItemKey => ({ pk: `${PREFIX.slackLink}${teamId}#${userId}`, sk: 'SLACKLINK' });
/** A one-time Slack link code's item, keyed by the code's SHA-256: the code itself is never stored. */
export const slackLinkCodeKey = (codeHash: string): ItemKey => ({ pk: `${PREFIX.slackLinkCode}${codeHash}`, sk: 'SLACKCODE' });

/** The partition value of a stack in the byStackKeys and openByStackKeys indexes. */
export const stackPartition = (stackKey: string) => `STACK#${stackKey}`;
/** The partition value of an org in the byOrgKeys index. */
export const orgPartition = (org: string) => `ORG#${org}`;

/** An IAM dynamodb:LeadingKeys pattern for every item of a kind. */
export const leadingKeysOf = (kind: keyof typeof PREFIX) => `${PREFIX[kind]}*`;
