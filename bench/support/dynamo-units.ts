/**
 * BENCH ONLY. DynamoDB's on-demand request units for one request, from the item images before and after it, by the
 * rules AWS documents (the sources are in bench/support/prices.ts):
 * - item size: attribute names and values in UTF-8 bytes; a number (significant digits / 2) + 1 bytes; null and boolean
 *   1 byte; a list or map 3 bytes plus 1 byte per element on top of its elements;
 * - writes: 1 write unit per KB (rounded up) of the larger of the item before and after (PutItem, UpdateItem), of the
 *   deleted item (DeleteItem); a write whose condition fails still costs the item's units, and nothing in the indexes;
 * - each global secondary index costs, on top, per KB of its entry (the table's keys, the index's keys and the
 *   attributes it projects: the whole item for ALL): nothing if the item is in it neither before nor after, or if its
 *   entry does not change; 1 write of the new entry when the item enters it (its key attributes appear); 1 of the old
 *   entry when it leaves; 2 (delete the old, put the new) when its index key changes; 1 when other projected
 *   attributes change;
 * - reads: 1 read unit per 4 KB of the item (GetItem) or of every item a Query/Scan returns, summed then rounded up;
 *   half for an eventually consistent read; an item not found still costs one (half) unit.
 */
import type { IndexDefinition } from '../../lambdas/adapters/dynamodb/table-definitions';

/** A DynamoDB-JSON attribute value ({S: ...}, {N: ...}, {M: {...}}, ...). */
export type AttrValue = Record<string, unknown>;
export type Item = Record<string, AttrValue>;

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');

function numberSize(n: string): number {
  const digits = n.replace(/^[-+]/, '').replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

export function valueSize(v: AttrValue): number {
  const [type, val] = Object.entries(v)[0] ?? ['NULL', true];
  switch (type) {
    case 'S':
      return utf8(String(val));
    case 'N':
      return numberSize(String(val));
    case 'B':
      return Buffer.from(String(val), 'base64').length;
    case 'BOOL':
    case 'NULL':
      return 1;
    case 'SS':
      return (val as string[]).reduce((n, s) => n + utf8(s), 0);
    case 'NS':
      return (val as string[]).reduce((n, s) => n + numberSize(s), 0);
    case 'BS':
      return (val as string[]).reduce((n, s) => n + Buffer.from(s, 'base64').length, 0);
    case 'L':
      return 3 + (val as AttrValue[]).reduce((n, e) => n + 1 + valueSize(e), 0);
    case 'M':
      return 3 + Object.entries(val as Item).reduce((n, [k, e]) => n + 1 + utf8(k) + valueSize(e), 0);
    default:
      throw new Error(`unknown DynamoDB attribute type ${type}`);
  }
}

/** The item's size in bytes as DynamoDB counts it. */
export const itemSize = (item: Item): number => Object.entries(item).reduce((n, [name, v]) => n + utf8(name) + valueSize(v), 0);

const kb = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));
const same = (a: AttrValue | undefined, b: AttrValue | undefined) => JSON.stringify(a) === JSON.stringify(b);

export interface WriteUnits {
  table: number;
  /** Write units per index name (only indexes the write touched). */
  indexes: Record<string, number>;
  total: number;
}

/** The keys and indexes of a table (lambdas/adapters/dynamodb/table-definitions.ts); an index without `projection` copies ALL. */
export interface TableShape {
  partitionKey: { name: string };
  sortKey: { name: string };
  indexes: ReadonlyArray<Pick<IndexDefinition, 'indexName' | 'partitionKey' | 'sortKey'> & { projection?: IndexDefinition['projection'] }>;
}

/** What an index holds of an item (the table's keys, its own and the attributes it copies); undefined when the item is not in it. */
function indexEntry(item: Item | undefined, table: TableShape, index: TableShape['indexes'][number]): Item | undefined {
  if (!item || item[index.partitionKey.name] === undefined || item[index.sortKey.name] === undefined) return undefined;
  const projection = index.projection ?? { type: 'ALL' as const };
  if (projection.type === 'ALL') return item;
  const names = [table.partitionKey.name, table.sortKey.name, index.partitionKey.name, index.sortKey.name];
  if (projection.type === 'INCLUDE') names.push(...projection.nonKeyAttributes);
  return Object.fromEntries(names.filter((n) => item[n] !== undefined).map((n) => [n, item[n]]));
}

/**
 * The write units of one write: `before`/`after` are the item's images (undefined: absent); `failed` a failed
 * condition (the item's units, nothing in the indexes). An index entry that does not change costs nothing.
 */
export function writeUnits(before: Item | undefined, after: Item | undefined, table: TableShape, failed = false): WriteUnits {
  const tableUnits = kb(Math.max(before ? itemSize(before) : 0, after ? itemSize(after) : 0));
  const out: Record<string, number> = {};
  if (!failed) {
    for (const idx of table.indexes) {
      const was = indexEntry(before, table, idx);
      const is = indexEntry(after, table, idx);
      const keyOf = (e: Item) => [e[idx.partitionKey.name], e[idx.sortKey.name]];
      let units = 0;
      if (!was && is) units = kb(itemSize(is));
      else if (was && !is) units = kb(itemSize(was));
      else if (was && is && !(same(keyOf(was)[0], keyOf(is)[0]) && same(keyOf(was)[1], keyOf(is)[1]))) units = kb(itemSize(was)) + kb(itemSize(is));
      else if (was && is && JSON.stringify(sortKeys(was)) !== JSON.stringify(sortKeys(is))) units = kb(Math.max(itemSize(was), itemSize(is)));
      if (units > 0) out[idx.indexName] = units;
    }
  }
  return { table: tableUnits, indexes: out, total: tableUnits + Object.values(out).reduce((a, b) => a + b, 0) };
}

function sortKeys(item: Item): unknown {
  const norm = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(norm)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, norm((v as Record<string, unknown>)[k])]),
          )
        : v;
  return norm(item);
}

/** Read units of a GetItem (`items` = [the item] or []) or of a Query/Scan (every item it returned). */
export function readUnits(items: Item[], consistent: boolean): number {
  const units = Math.max(1, Math.ceil(items.reduce((n, i) => n + itemSize(i), 0) / 4096));
  return consistent ? units : units / 2;
}
