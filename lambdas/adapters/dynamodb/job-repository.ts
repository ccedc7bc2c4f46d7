/**
 * Jobs in the jobs table (items `JOB#<jobId>`, keys.ts): the StackJob documents and their index keys. Only conditional
 * single-item writes (no transactions: dynalite, the local stand-in, has none), with an optimistic revision on every
 * job; every job read is validated against the StackJob schema. Idempotency records, approval items and task tokens,
 * and stack leases have their own repositories.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors';
import { stackKeyOfJob } from '../../domain/stack-job';
import { stackJobSchema, type JobPhase, type JobResult, type StackJob } from '../../domain/schemas';
import { conditionalWrite, validItem } from './client';
import { jobKey, orgPartition, PREFIX, stackPartition } from './keys';
import { JOBS_INDEX_BY_ORG, JOBS_INDEX_BY_STACK, JOBS_INDEX_OPEN_BY_STACK } from './table-definitions';

export interface StoredJob {
  job: StackJob;
  rev: number;
}

export interface JobPage {
  items: StackJob[];
  cursor?: string;
}

export interface JobListQuery {
  org: string;
  env?: string;
  resourceId?: string;
  phase?: JobPhase;
  result?: JobResult;
  limit: number;
  cursor?: string;
}

/** Optimistic-update attempts before giving up: each conflict means another writer just moved the job, so a re-read converges fast. */
const UPDATE_ATTEMPTS = 8;

/** The job document of a job item, validated. */
export function jobOfItem(item: Record<string, unknown>): StackJob {
  return validItem(stackJobSchema, item.job, 'job', { pk: String(item.pk), sk: String(item.sk) });
}

export function encodeCursor(key: Record<string, unknown> | undefined): string | undefined {
  return key ? Buffer.from(JSON.stringify(key)).toString('base64url') : undefined;
}

export function decodeCursor(cursor: string | undefined): Record<string, unknown> | undefined {
  if (!cursor) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed) && Object.values(parsed).every((v) => typeof v === 'string')) {
      return parsed as Record<string, unknown>;
    }
  } catch {
    // fall through to the validation error
  }
  throw new ValidationError('invalid cursor', [{ path: 'cursor', message: 'not a cursor this API returned' }]);
}

/** A start key is only accepted for the index and partition it was issued for. */
function isCursorFor(key: Record<string, unknown>, [indexPk, indexSk]: [string, string], partition: unknown): boolean {
  const names = Object.keys(key).sort();
  return names.join() === ['pk', 'sk', indexPk, indexSk].sort().join() && key[indexPk] === partition && String(key.pk).startsWith(PREFIX.job);
}

/** The sparse open-by-stack index's keys: present while the job is unfinished, absent once it has completed. */
function openKeys(job: StackJob): { gsi3pk: string; gsi3sk: string } | Record<string, never> {
  return job.status.phase === 'completed' ? {} : { gsi3pk: stackPartition(stackKeyOfJob(job)), gsi3sk: job.metadata.id };
}

export class JobRepository {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  private item(job: StackJob, rev: number) {
    return {
      ...jobKey(job.metadata.id),
      gsi1pk: stackPartition(stackKeyOfJob(job)),
      gsi1sk: job.metadata.id,
      gsi2pk: orgPartition(job.metadata.org),
      gsi2sk: job.metadata.id,
      ...openKeys(job),
      rev,
      job,
    };
  }

  /** Writes a new job; never overwrites. Returns false when a job with that id already exists. */
  async create(job: StackJob): Promise<boolean> {
    return conditionalWrite(
      this.db.send(new PutCommand({ TableName: this.tableName, Item: this.item(job, 1), ConditionExpression: 'attribute_not_exists(pk)' })),
    );
  }

  async get(id: string): Promise<StoredJob | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.tableName, Key: jobKey(id), ConsistentRead: true }));
    return out.Item ? { job: jobOfItem(out.Item), rev: out.Item.rev as number } : undefined;
  }

  async require(id: string): Promise<StoredJob> {
    const found = await this.get(id);
    if (!found) throw new NotFoundError(`stack job ${id} not found`);
    return found;
  }

  /**
   * Read-modify-write with an optimistic revision: `mutate` applies domain transitions (which throw on illegal ones)
   * and is re-run on a fresh read when another writer got there first.
   */
  async update(id: string, mutate: (job: StackJob) => StackJob): Promise<StackJob> {
    for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
      const { job, rev } = await this.require(id);
      const next = mutate(job);
      if (next === job) return job;
      try {
        // SET only the document, its revision and the open-index keys (removed on completion): any other attribute
        // of the item survives.
        const open = openKeys(next);
        await this.db.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: jobKey(id),
            UpdateExpression:
              'gsi3pk' in open ? 'SET #job = :job, rev = :next, gsi3pk = :g3pk, gsi3sk = :g3sk' : 'SET #job = :job, rev = :next REMOVE gsi3pk, gsi3sk',
            ConditionExpression: 'rev = :rev',
            ExpressionAttributeNames: { '#job': 'job' },
            ExpressionAttributeValues: {
              ':job': next,
              ':rev': rev,
              ':next': rev + 1,
              ...('gsi3pk' in open ? { ':g3pk': open.gsi3pk, ':g3sk': open.gsi3sk } : {}),
            },
          }),
        );
        return next;
      } catch (e) {
        if (!(e instanceof ConditionalCheckFailedException)) throw e;
      }
    }
    throw new ConflictError(`stack job ${id} is being changed concurrently; try again`);
  }

  /** Newest first, filtered, paged with an opaque cursor. */
  async list(q: JobListQuery): Promise<JobPage> {
    const byStack = q.env !== undefined && q.resourceId !== undefined;
    const names: Record<string, string> = { '#job': 'job', '#status': 'status', '#metadata': 'metadata' };
    const values: Record<string, unknown> = {};
    const filters: string[] = [];
    if (q.env !== undefined && !byStack) {
      names['#env'] = 'env';
      values[':env'] = q.env;
      filters.push('#job.#metadata.#env = :env');
    }
    if (q.resourceId !== undefined && !byStack) {
      names['#name'] = 'name';
      values[':rid'] = q.resourceId;
      filters.push('#job.#metadata.#name = :rid');
    }
    if (q.phase) {
      names['#phase'] = 'phase';
      values[':phase'] = q.phase;
      filters.push('#job.#status.#phase = :phase');
    }
    if (q.result) {
      names['#result'] = 'result';
      values[':result'] = q.result;
      filters.push('#job.#status.#result = :result');
    }
    const input: QueryCommandInput = byStack
      ? {
          TableName: this.tableName,
          IndexName: JOBS_INDEX_BY_STACK,
          KeyConditionExpression: 'gsi1pk = :pk',
          ExpressionAttributeValues: { ...values, ':pk': stackPartition(`${q.org}/${q.env}/${q.resourceId}`) },
        }
      : {
          TableName: this.tableName,
          IndexName: JOBS_INDEX_BY_ORG,
          KeyConditionExpression: 'gsi2pk = :pk',
          ExpressionAttributeValues: { ...values, ':pk': orgPartition(q.org) },
        };
    input.ScanIndexForward = false;
    if (filters.length > 0) input.FilterExpression = filters.join(' AND ');
    const usedNames = Object.fromEntries(Object.entries(names).filter(([k]) => (input.FilterExpression ?? '').includes(k)));
    if (Object.keys(usedNames).length > 0) input.ExpressionAttributeNames = usedNames;

    // A filter can leave a DynamoDB page short; keep reading until the page is full or the index is exhausted.
    const items: StackJob[] = [];
    let startKey = decodeCursor(q.cursor);
    const partition = (input.ExpressionAttributeValues as Record<string, unknown>)[':pk'];
    if (startKey && !isCursorFor(startKey, byStack ? ['gsi1pk', 'gsi1sk'] : ['gsi2pk', 'gsi2sk'], partition)) {
      // A cursor from another listing (or made up) would be a DynamoDB validation error, or page through someone else's partition.
      throw new ValidationError('invalid cursor', [{ path: 'cursor', message: 'not a cursor of this listing' }]);
    }
    do {
      const out = await this.db.send(new QueryCommand({ ...input, Limit: q.limit - items.length, ExclusiveStartKey: startKey }));
      items.push(...(out.Items ?? []).map(jobOfItem));
      startKey = out.LastEvaluatedKey;
    } while (startKey && items.length < q.limit);
    return { items, cursor: encodeCursor(startKey) };
  }

  /** Every job of one stack, finished ones included, oldest first (submission order). */
  async listStack(stackKey: string): Promise<StackJob[]> {
    return this.queryStack(JOBS_INDEX_BY_STACK, 'gsi1pk', stackKey);
  }

  /**
   * Gives every unfinished job written before the open-by-stack index existed its keys (an upgrade step: run once
   * after deploying, see docs/architecture.md; local mode runs it on start). Each write is conditional on the
   * revision read, so a job moved on meanwhile is left to its own write, which sets or removes the keys itself.
   * Returns how many jobs it gave keys to.
   */
  async backfillOpenIndex(): Promise<number> {
    let filled = 0;
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.db.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: 'begins_with(pk, :job) AND sk = :sk AND attribute_not_exists(gsi3pk)',
          ExpressionAttributeValues: { ':job': PREFIX.job, ':sk': 'JOB' },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) {
        const job = jobOfItem(item);
        const open = openKeys(job);
        if (!('gsi3pk' in open)) continue;
        const written = await conditionalWrite(
          this.db.send(
            new UpdateCommand({
              TableName: this.tableName,
              Key: jobKey(job.metadata.id),
              UpdateExpression: 'SET gsi3pk = :g3pk, gsi3sk = :g3sk',
              ConditionExpression: 'rev = :rev',
              ExpressionAttributeValues: { ':g3pk': open.gsi3pk, ':g3sk': open.gsi3sk, ':rev': item.rev },
            }),
          ),
        );
        if (written) filled++;
      }
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return filled;
  }

  /** The stack's newest job (the last submitted), one item read however long the stack's history. */
  async newestInStack(stackKey: string): Promise<StackJob | undefined> {
    const out = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: JOBS_INDEX_BY_STACK,
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: { ':pk': stackPartition(stackKey) },
        ScanIndexForward: false,
        Limit: 1,
      }),
    );
    return out.Items?.[0] ? jobOfItem(out.Items[0]) : undefined;
  }

  /**
   * The unfinished jobs of one stack, oldest first: the lock's queue, read from the sparse open-by-stack index, so
   * its cost does not grow with the stack's history. Eventually consistent, like every index read.
   */
  async listOpenInStack(stackKey: string): Promise<StackJob[]> {
    return this.queryStack(JOBS_INDEX_OPEN_BY_STACK, 'gsi3pk', stackKey);
  }

  /**
   * Every unfinished job of every stack (a scan of the sparse open-by-stack index, so only open jobs are read): what a
   * restart of local mode reconciles. Eventually consistent.
   */
  async listUnfinished(): Promise<StackJob[]> {
    const items: StackJob[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.db.send(new ScanCommand({ TableName: this.tableName, IndexName: JOBS_INDEX_OPEN_BY_STACK, ExclusiveStartKey: startKey }));
      items.push(...(out.Items ?? []).map(jobOfItem));
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return items;
  }

  private async queryStack(indexName: string, partitionKey: string, stackKey: string): Promise<StackJob[]> {
    const items: StackJob[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: indexName,
          KeyConditionExpression: `${partitionKey} = :pk`,
          ExpressionAttributeValues: { ':pk': stackPartition(stackKey) },
          ExclusiveStartKey: startKey,
        }),
      );
      items.push(...(out.Items ?? []).map(jobOfItem));
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return items;
  }
}
