/**
 * The one definition of the DynamoDB tables' keys and indexes. The CDK storage construct and local mode
 * both build their tables from this, so the two can never drift.
 */
export interface KeyAttr {
  name: string;
  type: 'S' | 'N';
}
/**
 * What an index copies of each item besides the keys (the table's and its own, always copied). DynamoDB bills an
 * index write per 1 KB of the copied entry, and only when the entry changes: an index that copies nothing but keys
 * costs one small write when an item enters it and one when it leaves, however often the item's other attributes
 * change.
 */
export type IndexProjection = { type: 'KEYS_ONLY' } | { type: 'INCLUDE'; nonKeyAttributes: readonly string[] } | { type: 'ALL' };
export interface IndexDefinition {
  indexName: string;
  partitionKey: KeyAttr;
  sortKey: KeyAttr;
  projection: IndexProjection;
}
export interface TableDefinition {
  partitionKey: KeyAttr;
  sortKey: KeyAttr;
  indexes: IndexDefinition[];
  /** Attribute DynamoDB TTL deletes by (expiry is also checked in conditions, since TTL deletion is late and dynalite never does it). */
  timeToLiveAttribute?: string;
}

/*
 * The jobs table's indexes copy keys only (KEYS_ONLY): a job item is several KB (its frozen snapshot and its status)
 * and is written some twenty times in its life, and an index that copied it all (ALL) was billed that whole size again,
 * per index, on every write. Each query reads the job ids (the table keys) from its index and then the jobs
 * themselves from the table (job-repository.ts: BatchGetItem, consistent for the lock's queue).
 * The names are new: a projection cannot be changed in place, and the indexes of earlier versions (LEGACY_JOBS_INDEXES,
 * copying ALL) are replaced one per deploy (infra/constructs/storage.ts, JOBS_INDEX_UPGRADE_STEPS).
 */

/** A stack's jobs, finished ones included (history, newest job, the API's listing of one resource). */
export const JOBS_INDEX_BY_STACK = 'byStackKeys';
/** An org's jobs (the API's listing). */
export const JOBS_INDEX_BY_ORG = 'byOrgKeys';
/**
 * Sparse: only unfinished jobs carry its keys (job-repository.ts writes them with a new job, gives them to an open job
 * whose item lacks them, and removes them when it completes), so the lock's FIFO reads a stack's queue, not its
 * whole history.
 */
export const JOBS_INDEX_OPEN_BY_STACK = 'openByStackKeys';

const KEYS_ONLY: IndexProjection = { type: 'KEYS_ONLY' };
const byStackKeys = { partitionKey: { name: 'gsi1pk', type: 'S' }, sortKey: { name: 'gsi1sk', type: 'S' } } as const;
const byOrgKeys = { partitionKey: { name: 'gsi2pk', type: 'S' }, sortKey: { name: 'gsi2sk', type: 'S' } } as const;
const openByStackKeys = { partitionKey: { name: 'gsi3pk', type: 'S' }, sortKey: { name: 'gsi3sk', type: 'S' } } as const;

/** Jobs, stack leases, idempotency records, approvals and resource status: one table, typed by key prefix. */
export const JOBS_TABLE: TableDefinition = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  indexes: [
    { indexName: JOBS_INDEX_BY_STACK, ...byStackKeys, projection: KEYS_ONLY },
    { indexName: JOBS_INDEX_BY_ORG, ...byOrgKeys, projection: KEYS_ONLY },
    { indexName: JOBS_INDEX_OPEN_BY_STACK, ...openByStackKeys, projection: KEYS_ONLY },
  ],
  timeToLiveAttribute: 'ttl',
};

/**
 * The indexes earlier versions made, on the same key attributes but copying every attribute (ALL), by the index that
 * replaces each. A deployed table keeps them until its upgrade has replaced them (storage.ts); until then a query whose
 * index is not there yet (or still filling) reads the one it replaces (job-repository.ts), which serves it as well.
 * Remove these once no deployment needs the upgrade.
 */
export const LEGACY_JOBS_INDEXES: Readonly<Record<string, IndexDefinition>> = {
  [JOBS_INDEX_BY_STACK]: { indexName: 'byStack', ...byStackKeys, projection: { type: 'ALL' } },
  [JOBS_INDEX_BY_ORG]: { indexName: 'byOrg', ...byOrgKeys, projection: { type: 'ALL' } },
  [JOBS_INDEX_OPEN_BY_STACK]: { indexName: 'openByStack', ...openByStackKeys, projection: { type: 'ALL' } },
};

/** An index's name and that of the legacy index it replaces (for grants: a query may be answered by either). */
export const readableIndexNames = (indexName: string): string[] => [
  indexName,
  ...(LEGACY_JOBS_INDEXES[indexName] ? [LEGACY_JOBS_INDEXES[indexName].indexName] : []),
];

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
export const ITEM_TTL_SECONDS = {
  taskToken: 8 * 86_400,
  lockWaitToken: 2 * 86_400,
  idempotency: 30 * 86_400,
  approvalRef: 30 * 86_400,
  slackLinkCode: 600,
} as const;

/** The `ttl` value for an item that should go `seconds` after `now`. */
export const ttlAfter = (now: Date, seconds: number) => Math.floor(now.getTime() / 1000) + seconds;
