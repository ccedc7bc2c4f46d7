/** Slack links (Slack account -> principal subject) in the jobs table, one item per Slack user of a workspace. */
import { createHash, randomInt } from 'node:crypto';
import { DeleteCommand, GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { conditionalWrite } from './client';
import { slackLinkSchema, type SlackLink } from '../../domain/schemas';
import { slackLinkCodeKey, slackLinkKey } from './keys';
import { ITEM_TTL_SECONDS, ttlAfter } from './table-definitions';

/** Link codes: 10 characters of Crockford's base32 (50 bits), no look-alikes (I, L, O, U). */
const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const SLACK_LINK_CODE = /^[0-9A-HJKMNP-TV-Z]{10}$/;
const codeHash = (code: string) => createHash('sha256').update(code.toUpperCase()).digest('hex');

/** What a link code proves: this Slack account (of this workspace) asked for it, until `expiresAt`. */
export interface SlackLinkCode {
  teamId: string;
  userId: string;
  expiresAt: string;
}

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

  /**
   * A one-time code that proves a Slack account is the person who shows it: issued to a signed Slack request from
   * that account (shown only to it), valid ITEM_TTL_SECONDS.slackLinkCode. Only its SHA-256 is stored.
   */
  async issueCode(teamId: string, userId: string, now: Date): Promise<{ code: string; expiresAt: string }> {
    const code = Array.from({ length: 10 }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]).join('');
    const expiresAt = new Date(now.getTime() + ITEM_TTL_SECONDS.slackLinkCode * 1000).toISOString();
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...slackLinkCodeKey(codeHash(code)), teamId, userId, expiresAt, ttl: ttlAfter(now, ITEM_TTL_SECONDS.slackLinkCode) },
      }),
    );
    return { code, expiresAt };
  }

  /** What a code was issued for, or undefined for a code never issued (or already used). Reads only. */
  async readCode(code: string): Promise<SlackLinkCode | undefined> {
    if (!SLACK_LINK_CODE.test(code.toUpperCase())) return undefined;
    const out = await this.db.send(new GetCommand({ TableName: this.tableName, Key: slackLinkCodeKey(codeHash(code)), ConsistentRead: true }));
    if (!out.Item) return undefined;
    return { teamId: String(out.Item.teamId), userId: String(out.Item.userId), expiresAt: String(out.Item.expiresAt) };
  }

  /** Uses a code up: true for the one caller whose delete found it. */
  async takeCode(code: string): Promise<boolean> {
    return conditionalWrite(
      this.db.send(new DeleteCommand({ TableName: this.tableName, Key: slackLinkCodeKey(codeHash(code)), ConditionExpression: 'attribute_exists(pk)' })),
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
