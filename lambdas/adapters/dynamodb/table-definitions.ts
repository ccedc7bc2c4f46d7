/**
 * The one definition of the DynamoDB tables' keys and indexes. The CDK storage construct and local mode
 * both build their tables from this, so the two can never drift.
 */
export interface KeyAttr {
  name: string;
  type: 'S' | 'N';
}
export interface IndexDefinition {
  indexName: string;
  partitionKey: KeyAttr;
  sortKey: KeyAttr;
}
export interface TableDefinition {
  partitionKey: KeyAttr;
  sortKey: KeyAttr;
  indexes: IndexDefinition[];
  /** Attribute DynamoDB TTL deletes by (expiry is also checked in conditions, since TTL deletion is late and dynalite never does it). */
  timeToLiveAttribute?: string;
}

export const JOBS_INDEX_BY_STACK = 'byStack';
export const JOBS_INDEX_BY_ORG = 'byOrg';
/**
 * Sparse: only unfinished jobs carry its keys (job-repository.ts sets them on every write of an open job and removes
 * them when it completes), so the lock's FIFO reads a stack's queue, not its whole history.
 */
export const JOBS_INDEX_OPEN_BY_STACK = 'openByStack';

/** Jobs, stack leases, idempotency records, approvals and resource status: one table, typed by key prefix. */
export const JOBS_TABLE: TableDefinition = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  indexes: [
    { indexName: JOBS_INDEX_BY_STACK, partitionKey: { name: 'gsi1pk', type: 'S' }, sortKey: { name: 'gsi1sk', type: 'S' } },
    { indexName: JOBS_INDEX_BY_ORG, partitionKey: { name: 'gsi2pk', type: 'S' }, sortKey: { name: 'gsi2sk', type: 'S' } },
    { indexName: JOBS_INDEX_OPEN_BY_STACK, partitionKey: { name: 'gsi3pk', type: 'S' }, sortKey: { name: 'gsi3sk', type: 'S' } },
  ],
  timeToLiveAttribute: 'ttl',
};

/** The catalog: pk `<owner>#<kind>` (owner is an org or `_platform`), sk the entity id. */
export const CATALOG_TABLE: TableDefinition = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  indexes: [],
};

export const TABLES = { jobs: JOBS_TABLE, catalog: CATALOG_TABLE } as const;

/**
 * How long temporary items of the jobs table live (the table's `ttl` attribute, epoch seconds). DynamoDB deletes them
 * within days after, so nothing reads `ttl` to decide anything; it only keeps the table from growing forever.
 * - task tokens (approval): the longest approval window (7 days) and a day;
 * - lock-wait tokens: a parked job is woken or looks again within lockWaitSeconds; two days is far beyond;
 * - idempotency records: a redelivered event arrives within hours (EventBridge gives up after 2 h); 30 days;
 * - approval refs (Slack button -> job): a late click on an old message is answered for 30 days.
 */
export const ITEM_TTL_SECONDS = { taskToken: 8 * 86_400, lockWaitToken: 2 * 86_400, idempotency: 30 * 86_400, approvalRef: 30 * 86_400 } as const;

/** The `ttl` value for an item that should go `seconds` after `now`. */
export const ttlAfter = (now: Date, seconds: number) => Math.floor(now.getTime() / 1000) + seconds;
