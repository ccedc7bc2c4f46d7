/** dynalite on loopback with the tables created from the one shared definition (table-definitions.ts). */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  ResourceNotFoundException,
  ScanCommand,
  type AttributeValue,
  type CreateTableCommandInput,
  type GlobalSecondaryIndex,
  type GlobalSecondaryIndexDescription,
} from '@aws-sdk/client-dynamodb';
import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';
import type { IndexProjection, TableDefinition } from '../lambdas/adapters/dynamodb/table-definitions';

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

/** An index's Projection in CreateTable's words. */
export function projectionOf(p: IndexProjection): NonNullable<GlobalSecondaryIndex['Projection']> {
  return p.type === 'INCLUDE' ? { ProjectionType: 'INCLUDE', NonKeyAttributes: [...p.nonKeyAttributes] } : { ProjectionType: p.type };
}

/** The CreateTable input for a table definition: exactly the keys and indexes the CDK storage construct deploys. */
export function tableInput(tableName: string, def: TableDefinition): CreateTableCommandInput {
  const attrs = new Map<string, 'S' | 'N'>();
  for (const k of [def.partitionKey, def.sortKey, ...def.indexes.flatMap((i) => [i.partitionKey, i.sortKey])]) attrs.set(k.name, k.type);
  return {
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
            Projection: projectionOf(i.projection),
          })),
        }
      : {}),
  };
}

/** Creates each table through ensureTable (tests; local mode uses the template's tables). An outdated one is refused. */
export async function createTables(endpoint: string, tables: Record<string, TableDefinition>): Promise<void> {
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  try {
    for (const [tableName, def] of Object.entries(tables)) await ensureTable(client, tableInput(tableName, def));
  } finally {
    client.destroy();
  }
}

/** What ensureTable did. */
export type TableSetup = 'created' | 'current' | 'rebuilt';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls DescribeTable until `done` holds of its answer (undefined: no such table); dynalite deletes and creates late. */
export async function waitForTable(client: DynamoDBClient, name: string, done: (status: string | undefined) => boolean): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const status = await client.send(new DescribeTableCommand({ TableName: name })).then(
      (out) => out.Table?.TableStatus ?? 'UNKNOWN',
      (e: unknown) => {
        if (e instanceof ResourceNotFoundException) return undefined;
        throw e;
      },
    );
    if (done(status)) return;
    await sleep(25);
  }
  throw new Error(`table ${name} did not settle`);
}

/** One index as compared: name, key schema, and what it copies (NonKeyAttributes in any order). */
function indexShape(i: GlobalSecondaryIndex | GlobalSecondaryIndexDescription): string {
  return JSON.stringify({
    name: i.IndexName,
    keys: (i.KeySchema ?? []).map((k) => `${k.AttributeName}:${k.KeyType}`),
    projection: i.Projection?.ProjectionType ?? 'ALL',
    attributes: [...(i.Projection?.NonKeyAttributes ?? [])].sort(),
  });
}

/** How a kept table's indexes differ from `input`'s: missing, different (keys or projection) or extra; empty when they match. */
export function indexDifferences(existing: GlobalSecondaryIndexDescription[], input: CreateTableCommandInput): string[] {
  const have = new Map(existing.map((i) => [i.IndexName, indexShape(i)]));
  const want = new Map((input.GlobalSecondaryIndexes ?? []).map((i) => [i.IndexName, indexShape(i)]));
  return [
    ...[...want].filter(([n]) => !have.has(n)).map(([n]) => `${n} missing`),
    ...[...want].filter(([n, shape]) => have.has(n) && have.get(n) !== shape).map(([n]) => `${n} copies other attributes or has other keys`),
    ...[...have.keys()].filter((n) => !want.has(n)).map((n) => `${n} not in the definition`),
  ];
}

/**
 * Creates the table, or brings a kept one (a local data directory from an earlier version) up to `input`'s indexes:
 * the same names, keys and projections, no other. dynalite cannot add, change or drop an index of a table, so such a
 * table is rebuilt: every item is read and saved to
 * `<backupDir>/<table>.rebuild.json` first, the table is dropped and made again with the new definition (waiting out
 * dynalite's late delete and create), the items are written back and counted, and only then is the copy removed.
 * A rebuild that was interrupted (the copy is still there) is finished from the copy on the next start. Without a
 * `backupDir`, a table that needs a rebuild is refused instead.
 */
export async function ensureTable(client: DynamoDBClient, input: CreateTableCommandInput, backupDir?: string): Promise<TableSetup> {
  const name = input.TableName!;
  const backup = backupDir && join(backupDir, `${name}.rebuild.json`);
  let items: Record<string, AttributeValue>[];
  if (backup && existsSync(backup)) {
    items = JSON.parse(readFileSync(backup, 'utf8')) as Record<string, AttributeValue>[];
  } else {
    try {
      await client.send(new CreateTableCommand(input));
      await waitForTable(client, name, (status) => status === 'ACTIVE');
      return 'created';
    } catch (e) {
      if (!(e instanceof ResourceInUseException)) throw e;
    }
    const existing = (await client.send(new DescribeTableCommand({ TableName: name }))).Table;
    const differences = indexDifferences(existing?.GlobalSecondaryIndexes ?? [], input);
    if (differences.length === 0) return 'current';
    if (!backupDir || !backup)
      throw new Error(`table ${name} lacks indexes of its definition and no backup directory was given to rebuild it (${differences.join('; ')})`);
    items = [];
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await client.send(new ScanCommand({ TableName: name, ExclusiveStartKey: startKey, ConsistentRead: true }));
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    mkdirSync(backupDir, { recursive: true });
    writeFileSync(`${backup}.tmp`, JSON.stringify(items));
    renameSync(`${backup}.tmp`, backup);
  }
  await client.send(new DeleteTableCommand({ TableName: name })).catch((e: unknown) => {
    if (!(e instanceof ResourceNotFoundException)) throw e;
  });
  await waitForTable(client, name, (status) => status === undefined);
  await client.send(new CreateTableCommand(input));
  await waitForTable(client, name, (status) => status === 'ACTIVE');
  for (let i = 0; i < items.length; i += 25) {
    let pending: Record<string, AttributeValue>[] = items.slice(i, i + 25);
    while (pending.length > 0) {
      const out = await client.send(new BatchWriteItemCommand({ RequestItems: { [name]: pending.map((Item) => ({ PutRequest: { Item } })) } }));
      pending = (out.UnprocessedItems?.[name] ?? []).map((r) => r.PutRequest!.Item!);
    }
  }
  let count = 0;
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: name, Select: 'COUNT', ExclusiveStartKey: startKey, ConsistentRead: true }));
    count += page.Count ?? 0;
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  if (count !== items.length)
    throw new Error(`rebuilding table ${name}: ${count} of ${items.length} items written back; the copy stays in ${backup} and the next start tries again`);
  rmSync(backup);
  return 'rebuilt';
}
