/** The catalog table: one partition per owner and kind (`<owner>#<kind>`), the entity id as sort key. */
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { CatalogReader } from '../../domain/ports';
import type { CatalogKind } from '../../domain/schemas';

export class CatalogRepository implements CatalogReader {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async list(kind: CatalogKind, owner: string): Promise<unknown[]> {
    const items: unknown[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': `${owner}#${kind}` },
          ExclusiveStartKey: startKey,
        }),
      );
      items.push(...(out.Items ?? []).map((i) => i.entity));
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return items;
  }

  async get(kind: CatalogKind, owner: string, id: string): Promise<unknown | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.tableName, Key: { pk: `${owner}#${kind}`, sk: id }, ConsistentRead: true }));
    return out.Item?.entity;
  }

  /** Creates or replaces; returns whether the entity existed before. */
  async put(kind: CatalogKind, owner: string, id: string, entity: unknown, updatedBy: string, at: Date): Promise<boolean> {
    const out = await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: `${owner}#${kind}`, sk: id, entity, updatedBy, updatedAt: at.toISOString() },
        ReturnValues: 'ALL_OLD',
      }),
    );
    return Boolean(out.Attributes);
  }

  /** Returns whether there was something to delete. */
  async delete(kind: CatalogKind, owner: string, id: string): Promise<boolean> {
    const out = await this.db.send(new DeleteCommand({ TableName: this.tableName, Key: { pk: `${owner}#${kind}`, sk: id }, ReturnValues: 'ALL_OLD' }));
    return Boolean(out.Attributes);
  }
}
