/**
 * DynamoDB's write bill, computed the way DynamoDB computes it, for the jobs table's cost checks:
 * - an item's size is the UTF-8 length of every attribute name plus its value (a number: 1 byte per 2 significant
 *   digits plus 1; a list or map: 3 bytes plus its elements, 1 byte each more, map keys counted like names);
 * - a table write costs 1 write unit per started KB of the larger of the item before and after it (a delete: the item
 *   before; a write whose condition failed: the item as it is);
 * - each index costs, per write: nothing when the item is in it neither before nor after, or when its entry (the table
 *   keys, the index keys and the attributes it copies) does not change; one write of the entry when the item enters
 *   it, leaves it or its copied attributes change; two when its index key changes (out of the old place, into the new).
 * The meter watches local mode's DynamoDB traffic and reads each written item just before the write, so the item after
 * a write is the one the next write to it (or the end) finds.
 */
import { DynamoDBClient, GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import type { IndexDefinition, TableDefinition } from '../../lambdas/adapters/dynamodb/table-definitions';
import { dynamoOperation, type FaultRule } from '../../local/fault-proxy';

export type Item = Record<string, AttributeValue>;

function numberSize(n: string): number {
  const digits = n
    .replace(/^-/, '')
    .replace(/[eE].*$/, '')
    .replace('.', '')
    .replace(/^0+/, '')
    .replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

export function valueSize(v: AttributeValue): number {
  if (v.S !== undefined) return Buffer.byteLength(v.S);
  if (v.N !== undefined) return numberSize(v.N);
  if (v.B !== undefined) return v.B.length;
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
  if (v.SS !== undefined) return v.SS.reduce((n, s) => n + Buffer.byteLength(s), 0);
  if (v.NS !== undefined) return v.NS.reduce((n, s) => n + numberSize(s), 0);
  if (v.BS !== undefined) return v.BS.reduce((n, b) => n + b.length, 0);
  if (v.L !== undefined) return 3 + v.L.reduce((n, e) => n + valueSize(e) + 1, 0);
  if (v.M !== undefined) return 3 + Object.entries(v.M).reduce((n, [k, e]) => n + Buffer.byteLength(k) + valueSize(e) + 1, 0);
  throw new Error(`unknown attribute value ${JSON.stringify(v)}`);
}

export const itemSize = (item: Item): number => Object.entries(item).reduce((n, [k, v]) => n + Buffer.byteLength(k) + valueSize(v), 0);

/** Write units for `bytes`: one per started KB, at least one. */
export const unitsFor = (bytes: number): number => Math.max(1, Math.ceil(bytes / 1024));

/** What an index holds of an item: undefined when the item is not in it (it lacks a key of the index). */
export function indexEntry(item: Item | undefined, table: TableDefinition, index: IndexDefinition): Item | undefined {
  if (!item || item[index.partitionKey.name] === undefined || item[index.sortKey.name] === undefined) return undefined;
  if (index.projection.type === 'ALL') return item;
  const names = [table.partitionKey.name, table.sortKey.name, index.partitionKey.name, index.sortKey.name];
  if (index.projection.type === 'INCLUDE') names.push(...index.projection.nonKeyAttributes);
  return Object.fromEntries(names.filter((n) => item[n] !== undefined).map((n) => [n, item[n]]));
}

export interface WriteCost {
  table: number;
  /** By index name. */
  indexes: Record<string, number>;
  total: number;
}

/** The write units of one write that turned `before` into `after` (undefined: no item), on a table with `table`'s indexes. */
export function writeCost(before: Item | undefined, after: Item | undefined, table: TableDefinition): WriteCost {
  const tableUnits = unitsFor(Math.max(before ? itemSize(before) : 0, after ? itemSize(after) : 0));
  const indexes: Record<string, number> = {};
  for (const index of table.indexes) {
    const [was, is] = [indexEntry(before, table, index), indexEntry(after, table, index)];
    const keyOf = (e: Item) => JSON.stringify([e[index.partitionKey.name], e[index.sortKey.name]]);
    indexes[index.indexName] =
      !was && !is
        ? 0
        : !was || !is
          ? unitsFor(itemSize((was ?? is)!))
          : keyOf(was) !== keyOf(is)
            ? unitsFor(itemSize(was)) + unitsFor(itemSize(is))
            : JSON.stringify(sorted(was)) === JSON.stringify(sorted(is))
              ? 0
              : unitsFor(Math.max(itemSize(was), itemSize(is)));
  }
  return { table: tableUnits, indexes, total: tableUnits + Object.values(indexes).reduce((a, b) => a + b, 0) };
}

function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, e]) => [k, sorted(e)]),
    );
  return v;
}

/** One observed write: which item, by which operation, and the item just before it. */
export interface MeteredWrite {
  at: number;
  op: string;
  table: string;
  key: Item;
  before: Item | undefined;
}

const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem']);

/**
 * A local-mode DynamoDB fault rule that answers nothing and records every write, with the item it is about to change.
 * `bind` it to local mode once it runs: the meter reads items through it, and its reads pass the rule untouched.
 */
export class WriteMeter {
  readonly writes: MeteredWrite[] = [];
  private client: DynamoDBClient | undefined;

  bind(endpoint: string, credentials: { accessKeyId: string; secretAccessKey: string }): void {
    this.client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  }

  destroy(): void {
    this.client?.destroy();
  }

  readonly rule: FaultRule = async (req) => {
    const op = dynamoOperation(req);
    if (!WRITES.has(op) || !this.client) return undefined;
    const body = JSON.parse(req.body.toString('utf8')) as {
      TableName?: string;
      Item?: Item;
      Key?: Item;
      RequestItems?: Record<string, Array<{ PutRequest?: { Item: Item }; DeleteRequest?: { Key: Item } }>>;
    };
    const targets: Array<{ table: string; key: Item }> = body.RequestItems
      ? Object.entries(body.RequestItems).flatMap(([table, rs]) => rs.map((r) => ({ table, key: keyOf(r.PutRequest?.Item ?? r.DeleteRequest!.Key) })))
      : [{ table: body.TableName!, key: keyOf(body.Item ?? body.Key!) }];
    const at = performance.now();
    for (const t of targets) this.writes.push({ at, op, ...t, before: await this.read(t.table, t.key) });
    return undefined;
  };

  async read(table: string, key: Item): Promise<Item | undefined> {
    return (await this.client!.send(new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true }))).Item;
  }

  /**
   * The cost of each write between `from` and `to` (performance.now()), under `definitionOf(table)`: the item after a
   * write is the one the next recorded write to it found, or, for its last one, the item as it is now.
   */
  async costs(
    from: number,
    to: number,
    definitionOf: (table: string) => TableDefinition,
  ): Promise<Array<MeteredWrite & { after: Item | undefined; cost: WriteCost }>> {
    const out: Array<MeteredWrite & { after: Item | undefined; cost: WriteCost }> = [];
    for (const [i, w] of this.writes.entries()) {
      if (w.at < from || w.at > to) continue;
      const id = JSON.stringify([w.table, w.key]);
      const next = this.writes.slice(i + 1).find((n) => JSON.stringify([n.table, n.key]) === id);
      const after = next ? next.before : await this.read(w.table, w.key);
      out.push({ ...w, after, cost: writeCost(w.before, after, definitionOf(w.table)) });
    }
    return out;
  }
}

const keyOf = (item: Item): Item => ({ pk: item.pk, sk: item.sk });
