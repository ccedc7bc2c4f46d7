/**
 * Jobs and their idempotency records in the jobs table. Only conditional single-item writes
 * (no transactions: dynalite, the local stand-in, has none), with an optimistic revision on every job.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors';
import { stackKeyOfJob } from '../../domain/stack-job';
import type { JobPhase, JobResult, StackJob } from '../../domain/schemas';
import { conditionalWrite } from './client';
import { ITEM_TTL_SECONDS, JOBS_INDEX_BY_ORG, JOBS_INDEX_BY_STACK, JOBS_INDEX_OPEN_BY_STACK, ttlAfter } from './table-definitions';

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

const jobKey = (id: string) => ({ pk: `JOB#${id}`, sk: 'JOB' });
const idemKey = (key: string) => ({ pk: `IDEM#${key}`, sk: 'IDEM' });
const approvalKey = (approvalId: string) => ({ pk: `APR#${approvalId}`, sk: 'APR' });
/** The approval task token's item: outside `JOB#*`, which is all the runner's task role may read. */
export const taskTokenKey = (jobId: string) => ({ pk: `TOKEN#${jobId}`, sk: 'TOKEN' });
/** The task token a job's execution parked on while it waits for its stack lock (lock-repository.ts), kept like the approval's. */
export const lockWaitTokenKey = (jobId: string) => ({ pk: `TOKEN#${jobId}`, sk: 'LOCKWAIT' });

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
  return names.join() === ['pk', 'sk', indexPk, indexSk].sort().join() && key[indexPk] === partition && String(key.pk).startsWith('JOB#');
}

/** The sparse open-by-stack index's keys: present while the job is unfinished, absent once it has completed. */
function openKeys(job: StackJob): { gsi3pk: string; gsi3sk: string } | Record<string, never> {
  return job.status.phase === 'completed' ? {} : { gsi3pk: `STACK#${stackKeyOfJob(job)}`, gsi3sk: job.metadata.id };
}

export class JobRepository {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private item(job: StackJob, rev: number) {
    return {
      ...jobKey(job.metadata.id),
      gsi1pk: `STACK#${stackKeyOfJob(job)}`,
      gsi1sk: job.metadata.id,
      gsi2pk: `ORG#${job.metadata.org}`,
      gsi2sk: job.metadata.id,
      ...openKeys(job),
      rev,
      job,
    };
  }

  /** Writes a new job; never overwrites. Returns false when a job with that id already exists. */
  async create(job: StackJob): Promise<boolean> {
    return conditionalWrite(this.db.send(new PutCommand({ TableName: this.tableName, Item: this.item(job, 1), ConditionExpression: 'attribute_not_exists(pk)' })));
  }

  async get(id: string): Promise<StoredJob | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.tableName, Key: jobKey(id), ConsistentRead: true }));
    return out.Item ? { job: out.Item.job as StackJob, rev: out.Item.rev as number } : undefined;
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
            UpdateExpression: 'gsi3pk' in open ? 'SET #job = :job, rev = :next, gsi3pk = :g3pk, gsi3sk = :g3sk' : 'SET #job = :job, rev = :next REMOVE gsi3pk, gsi3sk',
            ConditionExpression: 'rev = :rev',
            ExpressionAttributeNames: { '#job': 'job' },
            ExpressionAttributeValues: { ':job': next, ':rev': rev, ':next': rev + 1, ...('gsi3pk' in open ? { ':g3pk': open.gsi3pk, ':g3sk': open.gsi3sk } : {}) },
          }),
        );
        return next;
      } catch (e) {
        if (!(e instanceof ConditionalCheckFailedException)) throw e;
      }
    }
    throw new ConflictError(`stack job ${id} is being changed concurrently; try again`);
  }

  /**
   * The approval task token lives in its own item (pk `TOKEN#<jobId>`), never on the job's item or in the job
   * document: no read of the job (API responses, events, logs) can carry it, and the runner's task role, which may
   * read `JOB#*` items only (dynamodb:LeadingKeys), cannot read any job's token. Callers check the job exists.
   */
  async setTaskToken(id: string, token: string): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.tableName, Item: { ...taskTokenKey(id), jobId: id, taskToken: token, ttl: ttlAfter(this.now(), ITEM_TTL_SECONDS.taskToken) } }));
  }

  async getTaskToken(id: string): Promise<string | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.tableName, Key: taskTokenKey(id), ConsistentRead: true }));
    return out.Item?.taskToken as string | undefined;
  }

  /** Removes the token once it has been used, so a spent token is not kept around. */
  async clearTaskToken(id: string): Promise<void> {
    await this.db.send(new DeleteCommand({ TableName: this.tableName, Key: taskTokenKey(id) }));
  }

  /**
   * Slack buttons carry only the opaque approval id; this small item maps it back to its job. An update, not a put: a
   * retried approval request writes the same mapping again without erasing what the first one recorded (the notice).
   */
  async putApprovalRef(approvalId: string, jobId: string): Promise<void> {
    await this.db.send(new UpdateCommand({ TableName: this.tableName, Key: approvalKey(approvalId), UpdateExpression: 'SET jobId = :job, #ttl = :ttl', ExpressionAttributeNames: { '#ttl': 'ttl' }, ExpressionAttributeValues: { ':job': jobId, ':ttl': ttlAfter(this.now(), ITEM_TTL_SECONDS.approvalRef) } }));
  }

  /** Where the approval's Slack message went, so an API decision or a cancel can replace it (request.ts, notice.ts). */
  async recordApprovalNotice(approvalId: string, notice: { channel: string; ts: string }): Promise<void> {
    await this.db.send(
      new UpdateCommand({ TableName: this.tableName, Key: approvalKey(approvalId), UpdateExpression: 'SET noticeChannel = :c, noticeTs = :ts', ExpressionAttributeValues: { ':c': notice.channel, ':ts': notice.ts } }),
    );
  }

  async approvalNotice(approvalId: string): Promise<{ channel: string; ts: string } | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.tableName, Key: approvalKey(approvalId), ConsistentRead: true }));
    return typeof out.Item?.noticeChannel === 'string' && typeof out.Item.noticeTs === 'string' ? { channel: out.Item.noticeChannel, ts: out.Item.noticeTs } : undefined;
  }

  /**
   * Claims the Slack notice of an approval (one conditional write): true unless a message is already recorded for it.
   * So a retried approval request after a recorded post posts nothing, and one after an attempt that died before
   * posting or recording posts it rather than lose it. Posted twice instead: an attempt that died between posting and
   * recording, or two attempts overlapping (Step Functions retrying while the first still runs).
   */
  async claimApprovalNotice(approvalId: string, at: Date): Promise<boolean> {
    return conditionalWrite(this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: approvalKey(approvalId),
          UpdateExpression: 'SET noticeClaimedAt = :at',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(noticeTs)',
          ExpressionAttributeValues: { ':at': at.toISOString() },
        }),
      ));
  }

  async findJobIdByApproval(approvalId: string): Promise<string | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.tableName, Key: approvalKey(approvalId), ConsistentRead: true }));
    return out.Item?.jobId as string | undefined;
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
      ? { TableName: this.tableName, IndexName: JOBS_INDEX_BY_STACK, KeyConditionExpression: 'gsi1pk = :pk', ExpressionAttributeValues: { ...values, ':pk': `STACK#${q.org}/${q.env}/${q.resourceId}` } }
      : { TableName: this.tableName, IndexName: JOBS_INDEX_BY_ORG, KeyConditionExpression: 'gsi2pk = :pk', ExpressionAttributeValues: { ...values, ':pk': `ORG#${q.org}` } };
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
      items.push(...(out.Items ?? []).map((i) => i.job as StackJob));
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
          ExpressionAttributeValues: { ':job': 'JOB#', ':sk': 'JOB' },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) {
        const job = item.job as StackJob;
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
      new QueryCommand({ TableName: this.tableName, IndexName: JOBS_INDEX_BY_STACK, KeyConditionExpression: 'gsi1pk = :pk', ExpressionAttributeValues: { ':pk': `STACK#${stackKey}` }, ScanIndexForward: false, Limit: 1 }),
    );
    return out.Items?.[0]?.job as StackJob | undefined;
  }

  /**
   * The unfinished jobs of one stack, oldest first: the lock's queue, read from the sparse open-by-stack index, so
   * its cost does not grow with the stack's history. Eventually consistent, like every index read.
   */
  async listOpenInStack(stackKey: string): Promise<StackJob[]> {
    return this.queryStack(JOBS_INDEX_OPEN_BY_STACK, 'gsi3pk', stackKey);
  }

  private async queryStack(indexName: string, partitionKey: string, stackKey: string): Promise<StackJob[]> {
    const items: StackJob[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.db.send(
        new QueryCommand({ TableName: this.tableName, IndexName: indexName, KeyConditionExpression: `${partitionKey} = :pk`, ExpressionAttributeValues: { ':pk': `STACK#${stackKey}` }, ExclusiveStartKey: startKey }),
      );
      items.push(...(out.Items ?? []).map((i) => i.job as StackJob));
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return items;
  }

  /**
   * Claims an idempotency key for a job. The record carries the whole snapshot so a submission that crashed
   * between this write and the job write can be completed by the next delivery. Returns the winner's job.
   */
  async claimIdempotency(key: string, job: StackJob): Promise<{ claimed: boolean; job: StackJob }> {
    try {
      await this.db.send(new PutCommand({ TableName: this.tableName, Item: { ...idemKey(key), jobId: job.metadata.id, snapshot: job, ttl: ttlAfter(this.now(), ITEM_TTL_SECONDS.idempotency) }, ConditionExpression: 'attribute_not_exists(pk)' }));
      return { claimed: true, job };
    } catch (e) {
      if (!(e instanceof ConditionalCheckFailedException)) throw e;
    }
    const winner = await this.findByIdempotency(key);
    if (!winner) throw new ConflictError('idempotency record vanished during submission; try again');
    return { claimed: false, job: winner };
  }

  async findByIdempotency(key: string): Promise<StackJob | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.tableName, Key: idemKey(key), ConsistentRead: true }));
    return out.Item ? (out.Item.snapshot as StackJob) : undefined;
  }
}
