/**
 * Jobs in the jobs table (items `JOB#<jobId>`, keys.ts): the StackJob documents and their index keys. Only conditional
 * single-item writes (no transactions: dynalite, the local stand-in, has none), with an optimistic revision on every
 * job; every job read is validated against the StackJob schema. Idempotency records, approval items and task tokens,
 * and stack leases have their own repositories.
 *
 * The indexes copy keys only (table-definitions.ts): every query reads job keys from its index, then the jobs from the
 * table with BatchGetItem, in the index's order. So a write that changes a job but not its index keys costs no index
 * write at all.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
  type QueryCommandInput,
  type QueryCommandOutput,
  type ScanCommandInput,
  type ScanCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import { ConflictError, NotFoundError, ValidationError } from '../../domain/errors';
import { stackKeyOfJob } from '../../domain/stack-job';
import { stackJobSchema, type JobPhase, type JobResult, type StackJob } from '../../domain/schemas';
import { conditionalWrite, validItem } from './client';
import { jobKey, orgPartition, PREFIX, stackPartition } from './keys';
import { JOBS_INDEX_BY_ORG, JOBS_INDEX_BY_STACK, JOBS_INDEX_OPEN_BY_STACK, LEGACY_JOBS_INDEXES } from './table-definitions';

export interface StoredJob {
  job: StackJob;
  rev: number;
}

/** A job as this process last read or wrote it: what JobRepository.updateFrom starts from. */
export interface TrackedJob extends StoredJob {
  /** Whether its item carries the open-by-stack index's keys. */
  openIndexed: boolean;
}

export interface JobPage {
  items: StackJob[];
  cursor?: string;
}

export interface JobListQuery {
  org: string;
  env?: string;
  resourceId?: string;
  /** The resource kind (spec.apiResourceInfo.kind). */
  kind?: string;
  phase?: JobPhase;
  result?: JobResult;
  limit: number;
  cursor?: string;
}

/** Optimistic-update attempts before giving up: each conflict means another writer just moved the job, so a re-read converges fast. */
const UPDATE_ATTEMPTS = 8;
/** BatchGetItem takes at most 100 keys a request. */
const BATCH_GET_KEYS = 100;
/** Rounds of BatchGetItem for keys DynamoDB left unprocessed (throttling) before giving up, with a growing pause. */
const BATCH_GET_ROUNDS = 8;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * DynamoDB's answer for an index the table does not have, or has but is still filling ("Cannot read from backfilling
 * global secondary index"): during an upgrade, the index it replaces answers instead (LEGACY_JOBS_INDEXES).
 */
function isIndexUnavailable(e: unknown): boolean {
  return e instanceof Error && e.name === 'ValidationException' && /specified index|backfilling|global secondary index/i.test(e.message);
}

/** How long a process keeps reading the index that answered when the other did not, before it tries its own again. */
const INDEX_CHOICE_MS = 60_000;
/** Per table and index: the legacy index answers, until `until` (module-wide: one Lambda process, many repositories). */
const legacyChosen = new Map<string, number>();

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

/** How many index entries after a full page a listing reads to learn whether a next page has anything. */
const LOOK_AHEAD = 10;

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
    const found = await this.read(id);
    return found ? { job: found.job, rev: found.rev } : undefined;
  }

  /** The job as read now, to start updateFrom with. */
  getTracked(id: string): Promise<TrackedJob | undefined> {
    return this.read(id);
  }

  /** The job, its revision, and whether its item carries the open-by-stack index's keys. */
  private async read(id: string): Promise<TrackedJob | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.tableName, Key: jobKey(id), ConsistentRead: true }));
    return out.Item ? { job: jobOfItem(out.Item), rev: out.Item.rev as number, openIndexed: out.Item.gsi3pk !== undefined } : undefined;
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
    return (await this.updateFrom(id, undefined, mutate)).job;
  }

  /**
   * update(), starting from the job as this process last read or wrote it (`known`, from getTracked or an earlier
   * updateFrom): when nobody else wrote since, one conditional write and no read; when somebody did, the revision
   * condition fails and it reads and tries again, as update() does. A `mutate` that leaves the known job unchanged
   * writes nothing, so it must decide only on what cannot be undone (a job ended, a cancel asked, a commit pinned).
   */
  async updateFrom(id: string, known: TrackedJob | undefined, mutate: (job: StackJob) => StackJob): Promise<TrackedJob> {
    for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
      const found = attempt === 0 && known?.job.metadata.id === id ? known : await this.read(id);
      if (!found) throw new NotFoundError(`stack job ${id} not found`);
      const { job, rev, openIndexed } = found;
      const next = mutate(job);
      if (next === job) return found;
      try {
        // SET only the document and its revision: any other attribute of the item survives. The open-index keys are
        // written only when they change (given to an open job whose item lacks them, a job written before the index
        // existed; removed on completion), so the index sees an open job's writes not at all. The revision condition
        // makes what was read about them hold for the write.
        const open = openKeys(next);
        const setOpen = 'gsi3pk' in open && !openIndexed;
        await this.db.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: jobKey(id),
            UpdateExpression: setOpen
              ? 'SET #job = :job, rev = :next, gsi3pk = :g3pk, gsi3sk = :g3sk'
              : 'gsi3pk' in open
                ? 'SET #job = :job, rev = :next'
                : 'SET #job = :job, rev = :next REMOVE gsi3pk, gsi3sk',
            ConditionExpression: 'rev = :rev',
            ExpressionAttributeNames: { '#job': 'job' },
            ExpressionAttributeValues: {
              ':job': next,
              ':rev': rev,
              ':next': rev + 1,
              ...(setOpen ? { ':g3pk': open.gsi3pk, ':g3sk': open.gsi3sk } : {}),
            },
          }),
        );
        return { job: next, rev: rev + 1, openIndexed: 'gsi3pk' in open };
      } catch (e) {
        if (!(e instanceof ConditionalCheckFailedException)) throw e;
      }
    }
    throw new ConflictError(`stack job ${id} is being changed concurrently; try again`);
  }

  /**
   * Newest first, filtered, paged with an opaque cursor. The index gives the keys of up to `limit` jobs at a time, the
   * jobs are read from the table and the filters applied to them: the same jobs, pages and cursors as a filter on the
   * index itself would give (DynamoDB too applies a filter after the limit), at about the same read cost.
   */
  async list(q: JobListQuery): Promise<JobPage> {
    const byStack = q.env !== undefined && q.resourceId !== undefined;
    const matches = (job: StackJob) =>
      (byStack || q.env === undefined || job.metadata.env === q.env) &&
      (byStack || q.resourceId === undefined || job.metadata.name === q.resourceId) &&
      (!q.kind || job.spec.apiResourceInfo.kind === q.kind) &&
      (!q.phase || job.status.phase === q.phase) &&
      (!q.result || job.status.result === q.result);
    const [indexName, partitionKey, sortKey, partition] = byStack
      ? [JOBS_INDEX_BY_STACK, 'gsi1pk', 'gsi1sk', stackPartition(`${q.org}/${q.env}/${q.resourceId}`)]
      : [JOBS_INDEX_BY_ORG, 'gsi2pk', 'gsi2sk', orgPartition(q.org)];

    // A filter can leave a DynamoDB page short; keep reading until the page is full or the index is exhausted.
    const items: StackJob[] = [];
    let startKey = decodeCursor(q.cursor);
    if (startKey && !isCursorFor(startKey, [partitionKey, sortKey], partition)) {
      // A cursor from another listing (or made up) would be a DynamoDB validation error, or page through someone else's partition.
      throw new ValidationError('invalid cursor', [{ path: 'cursor', message: 'not a cursor of this listing' }]);
    }
    do {
      const out = await this.query(indexName, {
        KeyConditionExpression: `${partitionKey} = :pk`,
        ExpressionAttributeValues: { ':pk': partition },
        ScanIndexForward: false,
        Limit: q.limit - items.length,
        ExclusiveStartKey: startKey,
      });
      items.push(...(await this.jobsOf(out.Items, false)).filter(matches));
      startKey = out.LastEvaluatedKey;
    } while (startKey && items.length < q.limit);
    // DynamoDB hands back a key whenever a query stops at its Limit, also at the partition's last item: a cursor is
    // given only when the next LOOK_AHEAD index entries hold a job to show, so a client is not sent to an empty page.
    // Past that bound the cursor stays (a page may then come back empty): a listing never reads a whole partition.
    if (!startKey) return { items, cursor: undefined };
    const next = await this.query(indexName, {
      KeyConditionExpression: `${partitionKey} = :pk`,
      ExpressionAttributeValues: { ':pk': partition },
      ScanIndexForward: false,
      Limit: LOOK_AHEAD,
      ExclusiveStartKey: startKey,
    });
    const more = (await this.jobsOf(next.Items, false)).some(matches) || next.LastEvaluatedKey !== undefined;
    return { items, cursor: more ? encodeCursor(startKey) : undefined };
  }

  /** Every job of one stack, finished ones included, oldest first (submission order). */
  async listStack(stackKey: string): Promise<StackJob[]> {
    return this.queryStack(JOBS_INDEX_BY_STACK, 'gsi1pk', stackKey, false);
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

  /** The stack's newest job (the last submitted): one index entry and one item read, however long the stack's history. */
  async newestInStack(stackKey: string): Promise<StackJob | undefined> {
    const out = await this.query(JOBS_INDEX_BY_STACK, {
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': stackPartition(stackKey) },
      ScanIndexForward: false,
      Limit: 1,
    });
    return (await this.jobsOf(out.Items, true))[0];
  }

  /**
   * The unfinished jobs of one stack, oldest first: the lock's queue, read from the sparse open-by-stack index, so
   * its cost does not grow with the stack's history. Which jobs are in it is eventually consistent, like every index
   * read; the jobs themselves are read consistently (a job the index still lists may have completed meanwhile).
   */
  async listOpenInStack(stackKey: string): Promise<StackJob[]> {
    return this.queryStack(JOBS_INDEX_OPEN_BY_STACK, 'gsi3pk', stackKey, true);
  }

  /**
   * Every unfinished job of every stack (a scan of the sparse open-by-stack index, so only open jobs are read): what a
   * restart of local mode reconciles. Which jobs is eventually consistent; the jobs are read consistently.
   */
  async listUnfinished(): Promise<StackJob[]> {
    const items: StackJob[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.scan(JOBS_INDEX_OPEN_BY_STACK, { ExclusiveStartKey: startKey });
      items.push(...(await this.jobsOf(out.Items, true)));
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return items;
  }

  private async queryStack(indexName: string, partitionKey: string, stackKey: string, consistent: boolean): Promise<StackJob[]> {
    const items: StackJob[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.query(indexName, {
        KeyConditionExpression: `${partitionKey} = :pk`,
        ExpressionAttributeValues: { ':pk': stackPartition(stackKey) },
        ExclusiveStartKey: startKey,
      });
      items.push(...(await this.jobsOf(out.Items, consistent)));
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return items;
  }

  private query(indexName: string, input: Omit<QueryCommandInput, 'TableName' | 'IndexName'>): Promise<QueryCommandOutput> {
    return this.onIndex(indexName, (name) => this.db.send(new QueryCommand({ ...input, TableName: this.tableName, IndexName: name })));
  }

  private scan(indexName: string, input: Omit<ScanCommandInput, 'TableName' | 'IndexName'>): Promise<ScanCommandOutput> {
    return this.onIndex(indexName, (name) => this.db.send(new ScanCommand({ ...input, TableName: this.tableName, IndexName: name })));
  }

  /**
   * Runs a read on the index, or, while an upgrade has not made it yet (or it is still filling), on the legacy index it
   * replaces (same keys, every attribute copied: it serves the same reads); the answer is remembered for a minute.
   */
  private async onIndex<T>(indexName: string, read: (name: string) => Promise<T>): Promise<T> {
    const legacy = LEGACY_JOBS_INDEXES[indexName]?.indexName;
    if (!legacy) return read(indexName);
    const choice = `${this.tableName}/${indexName}`;
    const [first, second] = (legacyChosen.get(choice) ?? 0) > Date.now() ? [legacy, indexName] : [indexName, legacy];
    try {
      return await read(first);
    } catch (e) {
      if (!isIndexUnavailable(e)) throw e;
      const out = await read(second);
      if (second === legacy) legacyChosen.set(choice, Date.now() + INDEX_CHOICE_MS);
      else legacyChosen.delete(choice);
      return out;
    }
  }

  /**
   * The jobs whose keys an index read gave, in that order, read from the table (BatchGetItem, 100 keys a request;
   * keys left unprocessed are asked again). A job the index lists but the table does not hold (yet, for an eventually
   * consistent read) is left out.
   */
  private async jobsOf(indexItems: Record<string, unknown>[] | undefined, consistent: boolean): Promise<StackJob[]> {
    const keys: Record<string, unknown>[] = (indexItems ?? []).map((i) => ({ pk: String(i.pk), sk: String(i.sk) }));
    const found = new Map<string, Record<string, unknown>>();
    for (let i = 0; i < keys.length; i += BATCH_GET_KEYS) {
      let pending: Record<string, unknown>[] = keys.slice(i, i + BATCH_GET_KEYS);
      for (let round = 0; pending.length > 0; round++) {
        if (round === BATCH_GET_ROUNDS)
          throw new Error(`reading ${pending.length} job(s) from ${this.tableName}: DynamoDB left them unprocessed ${round} times`);
        if (round > 0) await sleep(Math.min(1000, 25 * 2 ** round));
        const out = await this.db.send(new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: consistent } } }));
        for (const item of out.Responses?.[this.tableName] ?? []) found.set(`${String(item.pk)}|${String(item.sk)}`, item);
        pending = out.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
      }
    }
    return keys.flatMap((k) => {
      const item = found.get(`${String(k.pk)}|${String(k.sk)}`);
      return item ? [jobOfItem(item)] : [];
    });
  }
}
