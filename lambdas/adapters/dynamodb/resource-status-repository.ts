/**
 * The latest status of each resource (pk `RESOURCE#org/env/resourceId` in the jobs table), written when a job
 * completes and read by GET /v1/orgs/{org}/envs/{env}/resources/{resourceId}.
 */
import { conditionalWrite } from './client';
import { GetCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { JobResult } from '../../domain/schemas';
import { PREFIX, resourceKey } from './keys';

/**
 * What listMatching reads of each resource item, and all it may read: the fan-out's IAM grant allows a Scan that
 * returns these attributes only (infra/constructs/drift.ts, `dynamodb:Attributes`).
 */
export const RESOURCE_LIST_ATTRIBUTES = ['pk', 'org', 'env', 'resourceId', 'lastAppliedJobId'] as const;
/**
 * The most pages (up to 1 MB each) one listing scans. The jobs table has no key layout that lists an org's resources,
 * so listMatching scans it; past this bound the listing is cut short and says so (`truncated`).
 */
export const RESOURCE_SCAN_MAX_PAGES = 200;

/** One resource as a drift schedule's listing sees it. */
export interface ResourceRef {
  org: string;
  env: string;
  resourceId: string;
  lastAppliedJobId?: string;
}

export interface ResourceStatus {
  org: string;
  env: string;
  resourceId: string;
  kind: string;
  lastJobId: string;
  lastResult: JobResult;
  lastFinishedAt: string;
  /** The resource version the last successful job applied (kept from earlier jobs when the last one did not succeed). */
  versionApplied?: string;
  /** Where that job's outputs are (S3 key in the artifacts bucket; sensitive values are masked when served). */
  outputsKey?: string;
  lastAppliedJobId?: string;
  /** What the latest refresh (a drift check's, or a change's own) found changed outside Stack Jobs. */
  drift?: ResourceDrift;
}

export interface ResourceDrift {
  checkedAt: string;
  jobId: string;
  drifted: boolean;
  total: number;
  resources: Array<{ address: string; actions: string[] }>;
}

export interface ResourceOutcome {
  org: string;
  env: string;
  resourceId: string;
  kind: string;
  jobId: string;
  result: JobResult;
  finishedAt: string;
  /** Set only when the job succeeded: the version now live and its outputs. */
  applied?: { versionId: string; outputsKey?: string };
}

export class ResourceStatusRepository {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /**
   * Records a job's outcome. Job ids sort by submission time, so the condition keeps a late write from an
   * older job from overwriting a newer job's status. Returns false when a newer job already wrote.
   */
  async record(o: ResourceOutcome): Promise<boolean> {
    const sets = ['org = :org', 'env = :env', 'resourceId = :rid', '#kind = :kind', 'lastJobId = :job', 'lastResult = :result', 'lastFinishedAt = :at'];
    const values: Record<string, unknown> = {
      ':org': o.org,
      ':env': o.env,
      ':rid': o.resourceId,
      ':kind': o.kind,
      ':job': o.jobId,
      ':result': o.result,
      ':at': o.finishedAt,
    };
    if (o.applied) {
      sets.push('versionApplied = :version', 'lastAppliedJobId = :job');
      values[':version'] = o.applied.versionId;
      // A job with no changes applied nothing new: the outputs of the last apply are still the live ones.
      if (o.applied.outputsKey) {
        sets.push('outputsKey = :outputs');
        values[':outputs'] = o.applied.outputsKey;
      }
    }
    return conditionalWrite(
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: resourceKey(o.org, o.env, o.resourceId),
          UpdateExpression: `SET ${sets.join(', ')}`,
          // A status a drift check made first has no last job yet.
          ConditionExpression: 'attribute_not_exists(lastJobId) OR lastJobId <= :job',
          ExpressionAttributeNames: { '#kind': 'kind' },
          ExpressionAttributeValues: values,
        }),
      ),
    );
  }

  /**
   * Records what a job's refresh found, unless a newer job's is there already (job ids sort by submission time). A
   * drift check writes only this: the resource's last job, version and outputs stay the last change's.
   */
  async recordDrift(org: string, env: string, resourceId: string, drift: ResourceDrift): Promise<boolean> {
    return conditionalWrite(
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: resourceKey(org, env, resourceId),
          UpdateExpression: 'SET org = :org, env = :env, resourceId = :rid, drift = :drift',
          ConditionExpression: 'attribute_not_exists(drift) OR drift.jobId <= :job',
          ExpressionAttributeValues: { ':org': org, ':env': env, ':rid': resourceId, ':drift': drift, ':job': drift.jobId },
        }),
      ),
    );
  }

  /**
   * The resources of an org, or of one of its environments, that have a status (a job of theirs finished, or a drift
   * check looked at them). The resource items (`RESOURCE#org/env/resourceId`) have no index to query, so this is a
   * Scan of the jobs table filtered on that key prefix, returning only RESOURCE_LIST_ATTRIBUTES, bounded by
   * RESOURCE_SCAN_MAX_PAGES: it reads (and is billed for) the whole table, jobs included, once per call.
   */
  async listMatching(org: string, env?: string, maxPages = RESOURCE_SCAN_MAX_PAGES): Promise<{ resources: ResourceRef[]; truncated: boolean }> {
    const prefix = `${PREFIX.resource}${org}/${env === undefined ? '' : `${env}/`}`;
    const names = Object.fromEntries(RESOURCE_LIST_ATTRIBUTES.map((a, i) => [`#a${i}`, a]));
    const resources: ResourceRef[] = [];
    let startKey: Record<string, unknown> | undefined;
    let pages = 0;
    do {
      const out = await this.db.send(
        new ScanCommand({
          TableName: this.tableName,
          Select: 'SPECIFIC_ATTRIBUTES',
          ProjectionExpression: Object.keys(names).join(', '),
          FilterExpression: 'begins_with(#a0, :prefix)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ':prefix': prefix },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) {
        const [itemOrg, itemEnv, ...rest] = String(item.pk).slice(PREFIX.resource.length).split('/');
        resources.push({
          org: String(item.org ?? itemOrg),
          env: String(item.env ?? itemEnv),
          resourceId: String(item.resourceId ?? rest.join('/')),
          ...(typeof item.lastAppliedJobId === 'string' ? { lastAppliedJobId: item.lastAppliedJobId } : {}),
        });
      }
      startKey = out.LastEvaluatedKey;
      pages++;
    } while (startKey && pages < maxPages);
    resources.sort((a, b) => `${a.env}/${a.resourceId}`.localeCompare(`${b.env}/${b.resourceId}`));
    return { resources, truncated: startKey !== undefined };
  }

  async get(org: string, env: string, resourceId: string): Promise<ResourceStatus | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.tableName, Key: resourceKey(org, env, resourceId), ConsistentRead: true }));
    if (!out.Item) return undefined;
    const { pk: _pk, sk: _sk, ...status } = out.Item;
    return status as ResourceStatus;
  }
}
