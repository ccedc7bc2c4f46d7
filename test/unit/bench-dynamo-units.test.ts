/**
 * The bench's DynamoDB pricing (bench/support/dynamo-units.ts), held to DynamoDB's documented rules: item size, 1 write
 * unit per KB for the table and for each index entry a write changes, nothing for an index whose entry stays the same.
 */
import { itemSize, readUnits, writeUnits, type Item, type TableShape } from '../../bench/support/dynamo-units';

const S = (s: string) => ({ S: s });
const table = (projection: TableShape['indexes'][number]['projection']): TableShape => ({
  partitionKey: { name: 'pk' },
  sortKey: { name: 'sk' },
  indexes: [{ indexName: 'byStack', partitionKey: { name: 'gsi1pk', type: 'S' }, sortKey: { name: 'gsi1sk', type: 'S' }, projection }],
});
const job = (extra: Item = {}): Item => ({ pk: S('JOB#1'), sk: S('JOB'), gsi1pk: S('STACK#a'), gsi1sk: S('2026'), ...extra });

describe('item size', () => {
  it('counts names and values in UTF-8 bytes, numbers by digits, maps and lists with their overhead', () => {
    expect(itemSize({ a: S('xyz') })).toBe(4);
    expect(itemSize({ é: S('é') })).toBe(4);
    expect(itemSize({ n: { N: '12345' } })).toBe(1 + 4);
    expect(itemSize({ b: { BOOL: true }, z: { NULL: true } })).toBe(4);
    expect(itemSize({ m: { M: { k: S('v') } } })).toBe(1 + 3 + 1 + 1 + 1);
    expect(itemSize({ l: { L: [S('ab'), S('c')] } })).toBe(1 + 3 + (1 + 2) + (1 + 1));
  });
});

describe('write units', () => {
  const big = S('x'.repeat(3000));
  it('bills the table by the larger image, per started KB', () => {
    expect(writeUnits(undefined, { pk: S('a'), sk: S('b') }, table({ type: 'ALL' })).total).toBe(1);
    expect(writeUnits({ pk: S('a'), sk: S('b'), v: big }, { pk: S('a'), sk: S('b') }, table({ type: 'ALL' })).table).toBe(3);
  });

  it('bills an index that copies ALL for every change of the item, and a keys-only index only when the item enters, leaves or moves', () => {
    const before = job({ v: big });
    const after = job({ v: big, status: S('running') });
    expect(writeUnits(before, after, table({ type: 'ALL' })).indexes).toEqual({ byStack: 3 });
    expect(writeUnits(before, after, table({ type: 'KEYS_ONLY' })).indexes).toEqual({});
    expect(writeUnits(undefined, after, table({ type: 'KEYS_ONLY' })).indexes).toEqual({ byStack: 1 });
    const { gsi1pk: _pk, gsi1sk: _sk, ...left } = after;
    expect(writeUnits(after, left, table({ type: 'KEYS_ONLY' })).indexes).toEqual({ byStack: 1 });
    expect(writeUnits(after, job({ gsi1sk: S('2027') }), table({ type: 'KEYS_ONLY' })).indexes).toEqual({ byStack: 2 });
    expect(writeUnits(before, after, table({ type: 'INCLUDE', nonKeyAttributes: ['status'] })).indexes).toEqual({ byStack: 1 });
  });

  it('bills a failed conditional write for the item only', () => {
    expect(writeUnits(job(), job(), table({ type: 'ALL' }), true)).toEqual({ table: 1, indexes: {}, total: 1 });
  });
});

describe('read units', () => {
  it('bills 4 KB per unit over what was returned, half for eventually consistent reads, one unit for nothing found', () => {
    expect(readUnits([], true)).toBe(1);
    expect(readUnits([], false)).toBe(0.5);
    expect(readUnits([{ a: S('x'.repeat(5000)) }], true)).toBe(2);
    expect(readUnits([{ a: S('x'.repeat(3000)) }, { a: S('x'.repeat(3000)) }], false)).toBe(1);
  });
});
