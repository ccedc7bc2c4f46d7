/** Slack links (Slack account -> principal subject) in the jobs table, one item per Slack user of a workspace. */
import { DeleteCommand, GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { conditionalWrite } from './client';
import { slackLinkSchema, type SlackLink } from '../../domain/schemas';
import { slackLinkKey } from './keys';

export { slackLinkKey };

export class SlackLinkRepository {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async get(teamId: string, userId: string): Promise<SlackLink | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.tableName, Key: slackLinkKey(teamId, userId), ConsistentRead: true }));
    if (!out.Item) return undefined;
    const { pk: _pk, sk: _sk, ...link } = out.Item;
    const parsed = slackLinkSchema.safeParse(link);
    return parsed.success ? parsed.data : undefined;
  }

  /**
   * Writes a link. `onlyFor` keeps a person from taking over a Slack account someone else linked: the write succeeds
   * only while the account is unlinked or linked to that same subject. Returns false when refused.
   */
  async put(link: SlackLink, onlyFor?: string): Promise<boolean> {
    return conditionalWrite(
      this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...slackLinkKey(link.teamId, link.userId), ...link },
          ...(onlyFor ? { ConditionExpression: 'attribute_not_exists(pk) OR subject = :s', ExpressionAttributeValues: { ':s': onlyFor } } : {}),
        }),
      ),
    );
  }

  /** Removes a link; with `onlyFor`, only that subject's own. Returns false when there was none to remove. */
  async delete(teamId: string, userId: string, onlyFor?: string): Promise<boolean> {
    return conditionalWrite(
      this.db.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: slackLinkKey(teamId, userId),
          ConditionExpression: onlyFor ? 'subject = :s' : 'attribute_exists(pk)',
          ...(onlyFor ? { ExpressionAttributeValues: { ':s': onlyFor } } : {}),
        }),
      ),
    );
  }
}
