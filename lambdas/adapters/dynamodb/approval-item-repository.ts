/**
 * Approval items (keys.ts): the approval's ref (`APR#<approvalId>`: a Slack button carries only that id; the item maps
 * it to its job and records where the Slack message went) and the approval task token (`TOKEN#<jobId>`), which never
 * sits on the job's item, so no read of a job can return it and the runner's role (`JOB#*` only) cannot read it.
 */
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { conditionalWrite } from './client';
import { approvalKey, taskTokenKey } from './keys';
import { ITEM_TTL_SECONDS, ttlAfter } from './table-definitions';

export class ApprovalItemRepository {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * The approval task token lives in its own item (`TOKEN#<jobId>`), never on the job's item or in the job
   * document: no read of the job (API responses, events, logs) can carry it, and the runner's task role, which may
   * read `JOB#*` items only (dynamodb:LeadingKeys), cannot read any job's token. Callers check the job exists.
   */
  async setTaskToken(id: string, token: string): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...taskTokenKey(id), jobId: id, taskToken: token, ttl: ttlAfter(this.now(), ITEM_TTL_SECONDS.taskToken) },
      }),
    );
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
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: approvalKey(approvalId),
        UpdateExpression: 'SET jobId = :job, #ttl = :ttl',
        ExpressionAttributeNames: { '#ttl': 'ttl' },
        ExpressionAttributeValues: { ':job': jobId, ':ttl': ttlAfter(this.now(), ITEM_TTL_SECONDS.approvalRef) },
      }),
    );
  }

  /** Where the approval's Slack message went, so an API decision or a cancel can replace it (request.ts, notice.ts). */
  async recordApprovalNotice(approvalId: string, notice: { channel: string; ts: string }): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: approvalKey(approvalId),
        UpdateExpression: 'SET noticeChannel = :c, noticeTs = :ts',
        ExpressionAttributeValues: { ':c': notice.channel, ':ts': notice.ts },
      }),
    );
  }

  async approvalNotice(approvalId: string): Promise<{ channel: string; ts: string } | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.tableName, Key: approvalKey(approvalId), ConsistentRead: true }));
    return typeof out.Item?.noticeChannel === 'string' && typeof out.Item.noticeTs === 'string'
      ? { channel: out.Item.noticeChannel, ts: out.Item.noticeTs }
      : undefined;
  }

  /**
   * Claims the Slack notice of an approval (one conditional write): true unless a message is already recorded for it.
   * So a retried approval request after a recorded post posts nothing, and one after an attempt that died before
   * posting or recording posts it rather than lose it. Posted twice instead: an attempt that died between posting and
   * recording, or two attempts overlapping (Step Functions retrying while the first still runs).
   */
  async claimApprovalNotice(approvalId: string, at: Date): Promise<boolean> {
    return conditionalWrite(
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: approvalKey(approvalId),
          UpdateExpression: 'SET noticeClaimedAt = :at',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(noticeTs)',
          ExpressionAttributeValues: { ':at': at.toISOString() },
        }),
      ),
    );
  }

  async findJobIdByApproval(approvalId: string): Promise<string | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.tableName, Key: approvalKey(approvalId), ConsistentRead: true }));
    return out.Item?.jobId as string | undefined;
  }
}
