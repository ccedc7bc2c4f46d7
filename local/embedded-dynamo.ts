/** dynalite on loopback with the tables created from the one shared definition (table-definitions.ts). */
import { BatchWriteItemCommand, CreateTableCommand, DeleteTableCommand, DescribeTableCommand, DynamoDBClient, ResourceInUseException, ScanCommand, type AttributeValue, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';
import type { TableDefinition } from '../lambdas/adapters/dynamodb/table-definitions';

export interface EmbeddedDynamo {
  endpoint: string;
  stop(): Promise<void>;
}

/** Local-mode credentials: the stand-ins check none, but the SDK insists on some. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export async function startEmbeddedDynamo(options: { path?: string; port?: number } = {}): Promise<EmbeddedDynamo> {
  const server = dynalite({ path: options.path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Creates each table (if absent) with exactly the keys and indexes the CDK storage construct deploys. */
export async function createTables(endpoint: string, tables: Record<string, TableDefinition>): Promise<void> {
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  try {
    for (const [tableName, def] of Object.entries(tables)) {
      const attrs = new Map<string, 'S' | 'N'>();
      for (const k of [def.partitionKey, def.sortKey, ...def.indexes.flatMap((i) => [i.partitionKey, i.sortKey])]) attrs.set(k.name, k.type);
      try {
        await client.send(
          new CreateTableCommand({
            TableName: tableName,
            BillingMode: 'PAY_PER_REQUEST',
            AttributeDefinitions: [...attrs].map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType })),
            KeySchema: [
              { AttributeName: def.partitionKey.name, KeyType: 'HASH' },
              { AttributeName: def.sortKey.name, KeyType: 'RANGE' },
            ],
            ...(def.indexes.length > 0
              ? {
                  GlobalSecondaryIndexes: def.indexes.map((i) => ({
                    IndexName: i.indexName,
                    KeySchema: [
                      { AttributeName: i.partitionKey.name, KeyType: 'HASH' as const },
                      { AttributeName: i.sortKey.name, KeyType: 'RANGE' as const },
                    ],
                    Projection: { ProjectionType: 'ALL' as const },
                  })),
                }
              : {}),
          }),
        );
      } catch (e) {
        if (!(e instanceof ResourceInUseException)) throw e;
      }
    }
  } finally {
    client.destroy();
  }
}

/**
 * Creates the table, or brings a kept one (a local data directory from an earlier version) up to `input`'s indexes.
 * dynalite cannot add an index to a table, so such a table is rebuilt: every item is read, the table is made again
 * with the new definition and the items are written back, nothing lost. Returns whether it rebuilt the table.
 */
export async function ensureTable(client: DynamoDBClient, input: CreateTableCommandInput): Promise<boolean> {
  try {
    await client.send(new CreateTableCommand(input));
    return false;
  } catch (e) {
    if (!(e instanceof ResourceInUseException)) throw e;
  }
  const existing = (await client.send(new DescribeTableCommand({ TableName: input.TableName }))).Table;
  const has = new Set((existing?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName));
  if ((input.GlobalSecondaryIndexes ?? []).every((i) => has.has(i.IndexName))) return false;
  const items: Record<string, AttributeValue>[] = [];
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: input.TableName, ExclusiveStartKey: startKey, ConsistentRead: true }));
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  await client.send(new DeleteTableCommand({ TableName: input.TableName }));
  await client.send(new CreateTableCommand(input));
  for (let i = 0; i < items.length; i += 25) {
    let pending: Record<string, AttributeValue>[] = items.slice(i, i + 25);
    while (pending.length > 0) {
      const out = await client.send(new BatchWriteItemCommand({ RequestItems: { [input.TableName!]: pending.map((Item) => ({ PutRequest: { Item } })) } }));
      pending = (out.UnprocessedItems?.[input.TableName!] ?? []).map((r) => r.PutRequest!.Item!);
    }
  }
  return true;
}
