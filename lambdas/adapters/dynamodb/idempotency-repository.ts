/**
 * Idempotency records (items `IDEM#<sha256>`, keys.ts): the same change maps to the same key, so a retried request or a
 * redelivered event finds the job it made. The record carries the whole snapshot, so a submission that crashed between
 * this write and the job write is completed by the next delivery; the snapshot is validated when it is read back.
 */
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConflictError } from '../../domain/errors';
import { stackJobSchema, type StackJob } from '../../domain/schemas';
import { conditionalWrite, validItem } from './client';
import { idempotencyKey } from './keys';
import { ITEM_TTL_SECONDS, ttlAfter } from './table-definitions';

export class IdempotencyRepository {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Claims an idempotency key for a job. Returns the winner's job: this one, or the one a first claim made. */
  async claim(key: string, job: StackJob): Promise<{ claimed: boolean; job: StackJob }> {
    const claimed = await conditionalWrite(
      this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...idempotencyKey(key), jobId: job.metadata.id, snapshot: job, ttl: ttlAfter(this.now(), ITEM_TTL_SECONDS.idempotency) },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    );
    if (claimed) return { claimed: true, job };
    const winner = await this.find(key);
    if (!winner) throw new ConflictError('idempotency record vanished during submission; try again');
    return { claimed: false, job: winner };
  }

  /** The snapshot of the job a key was claimed for, if any. */
  async find(key: string): Promise<StackJob | undefined> {
    const itemKey = idempotencyKey(key);
    const out = await this.db.send(new GetCommand({ TableName: this.tableName, Key: itemKey, ConsistentRead: true }));
    return out.Item ? validItem(stackJobSchema, out.Item.snapshot, 'idempotency record', itemKey) : undefined;
  }
}
