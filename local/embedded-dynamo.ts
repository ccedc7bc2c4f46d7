/** dynalite on loopback with the tables created from the one shared definition (table-definitions.ts). */
import { CreateTableCommand, DynamoDBClient, ResourceInUseException } from '@aws-sdk/client-dynamodb';
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
