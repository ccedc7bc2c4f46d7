/**
 * Stack locks: one lease item per stack (`LOCK#org/env/resourceId`, keys.ts) in the jobs table, holding the owner
 * job id, a fencing counter that only ever grows, and an expiry. Only conditional single-item writes
 * (dynalite has no transactions, and TTL deletion would be too late to matter anyway): every write is
 * conditioned on the fencing token it read, so two acquirers can never both win, and a stale holder can
 * never release a lease that has since changed hands.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { conditionalWrite } from './client';
import type { StackLease, StackLockReader } from '../../domain/ports';
import { leaseKey as lockKey, lockWaitTokenKey } from './keys';
import { ITEM_TTL_SECONDS, ttlAfter } from './table-definitions';

/** The lease item as stored; `ownerJobId` is absent once released (the item stays so the counter keeps growing). */
export interface LeaseRecord {
  stackKey: string;
  fencingToken: number;
  ownerJobId?: string;
  expiresAt?: string;
  /** When the current holder took it. */
  acquiredAt?: string;
}

export type AcquireOutcome =
  | { acquired: true; lease: StackLease }
  /** `holder` is the live lease that blocked this attempt, if one did (none: another acquirer won the race). */
  | { acquired: false; holder?: StackLease };

/** A job parked on its stack lock: the task token its execution waits on. */
export interface ParkedWaiter {
  stackKey: string;
  jobId: string;
  taskToken: string;
}

const isLive = (r: LeaseRecord | undefined, now: Date): r is LeaseRecord & { ownerJobId: string; expiresAt: string } =>
  Boolean(r?.ownerJobId && r.expiresAt && Date.parse(r.expiresAt) > now.getTime());

const asLease = (r: LeaseRecord & { ownerJobId: string; expiresAt: string }): StackLease => ({
  stackKey: r.stackKey,
  ownerJobId: r.ownerJobId,
  fencingToken: r.fencingToken,
  expiresAt: r.expiresAt,
});

export class LockRepository implements StackLockReader {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The raw lease record, live, expired or released; undefined when the stack was never locked. */
  async read(stackKey: string): Promise<LeaseRecord | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.tableName, Key: lockKey(stackKey), ConsistentRead: true }));
    if (!out.Item) return undefined;
    const { stackKey: key, fencingToken, ownerJobId, expiresAt, acquiredAt } = out.Item as LeaseRecord;
    return {
      stackKey: key,
      fencingToken,
      ...(ownerJobId ? { ownerJobId } : {}),
      ...(expiresAt ? { expiresAt } : {}),
      ...(ownerJobId && acquiredAt ? { acquiredAt } : {}),
    };
  }

  /** The live lease on a stack, if any: an expired lease counts as free (StackLockReader port). */
  async getLease(stackKey: string): Promise<StackLease | undefined> {
    const record = await this.read(stackKey);
    return isLive(record, this.now()) ? asLease(record) : undefined;
  }

  /**
   * Takes the lease for `jobId` when it is free, released or expired; re-entrant for its current owner.
   * The write is conditioned on the fencing token read just before, so of two concurrent acquirers exactly one wins.
   */
  async tryAcquire(stackKey: string, jobId: string, expiresAt: Date): Promise<AcquireOutcome> {
    const now = this.now();
    const current = await this.read(stackKey);
    if (current?.ownerJobId === jobId && current.expiresAt)
      return { acquired: true, lease: asLease({ ...current, ownerJobId: jobId, expiresAt: current.expiresAt }) };
    if (isLive(current, now)) return { acquired: false, holder: asLease(current) };
    const lease: StackLease = { stackKey, ownerJobId: jobId, fencingToken: (current?.fencingToken ?? 0) + 1, expiresAt: expiresAt.toISOString() };
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...lockKey(stackKey), ...lease, acquiredAt: now.toISOString() },
          ...(current
            ? { ConditionExpression: 'fencingToken = :seen', ExpressionAttributeValues: { ':seen': current.fencingToken } }
            : { ConditionExpression: 'attribute_not_exists(pk)' }),
        }),
      );
      return { acquired: true, lease };
    } catch (e) {
      if (!(e instanceof ConditionalCheckFailedException)) throw e;
      // Someone else moved the lease between our read and write: report whoever holds it now.
      const winner = await this.getLease(stackKey);
      if (winner?.ownerJobId === jobId) return { acquired: true, lease: winner };
      return winner ? { acquired: false, holder: winner } : { acquired: false };
    }
  }

  /**
   * Releases the lease only if `jobId` still owns it, at the fencing token observed (or the one given):
   * a job whose lease expired and was taken over can never release its successor's lease.
   * Returns whether this call released it; releasing what one does not hold is a no-op, so retries are safe.
   */
  async release(stackKey: string, jobId: string, fencingToken?: number): Promise<boolean> {
    const current = await this.read(stackKey);
    if (!current || current.ownerJobId !== jobId) return false;
    if (fencingToken !== undefined && current.fencingToken !== fencingToken) return false;
    return conditionalWrite(
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: lockKey(stackKey),
          UpdateExpression: 'REMOVE ownerJobId, expiresAt SET releasedAt = :now, releasedBy = :job',
          ConditionExpression: 'ownerJobId = :job AND fencingToken = :token',
          ExpressionAttributeValues: { ':job': jobId, ':token': current.fencingToken, ':now': this.now().toISOString() },
        }),
      ),
    );
  }

  /**
   * Parks a waiting job: the task token its execution waits on until the stack is free. Kept like the approval token
   * (pk `TOKEN#<jobId>`: never in the job document, out of the runner role's reach); a new park replaces the old token.
   */
  async parkWaiter(stackKey: string, jobId: string, taskToken: string): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...lockWaitTokenKey(jobId),
          stackKey,
          jobId,
          taskToken,
          parkedAt: this.now().toISOString(),
          ttl: ttlAfter(this.now(), ITEM_TTL_SECONDS.lockWaitToken),
        },
      }),
    );
  }

  /** Takes (reads and deletes in one write) a parked job's token: of two wakers, only one gets it. */
  async takeWaiter(jobId: string): Promise<ParkedWaiter | undefined> {
    const out = await this.db.send(new DeleteCommand({ TableName: this.tableName, Key: lockWaitTokenKey(jobId), ReturnValues: 'ALL_OLD' }));
    const item = out.Attributes as ParkedWaiter | undefined;
    return item?.taskToken ? { stackKey: item.stackKey, jobId: item.jobId, taskToken: item.taskToken } : undefined;
  }

  /** Puts back a token whose wake failed, unless the job has parked again since (its newer token wins). */
  async restoreWaiter(parked: ParkedWaiter): Promise<void> {
    await conditionalWrite(
      this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...lockWaitTokenKey(parked.jobId), ...parked, parkedAt: this.now().toISOString(), ttl: ttlAfter(this.now(), ITEM_TTL_SECONDS.lockWaitToken) },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    );
  }
}
