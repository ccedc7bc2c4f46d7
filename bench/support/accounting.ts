/**
 * BENCH ONLY. Request accounting for local mode's fault proxies (local/fault-proxy.ts), which every DynamoDB and S3
 * request passes through, from the API, the workflow Lambdas and the runner processes alike:
 * - DynamoDB: each request is forwarded by the rule itself (through local mode's signature gate, marked so the rule
 *   lets the copy through), with the item read just before and just after a write (a consistent GetItem, also marked):
 *   write units for the table and for every index the item lands in, read units from the items returned
 *   (bench/support/dynamo-units.ts). The two extra loopback reads per write slow writes by a few ms, so Lambda
 *   durations measured in the same run are an upper bound;
 * - S3: every request by class as S3 bills it: PUT, COPY, POST and LIST at one price, GET and HEAD at another,
 *   DELETE free; and the bytes uploaded.
 * Requests carrying BENCH_MARK (the bench's own reads, the rule's forwarded copies) are neither counted nor forwarded again.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import { DescribeTableCommand, DynamoDBClient, GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { dynamoOperation, type FaultRule, type InjectedResponse, type ProxiedRequest } from '../../local/fault-proxy';
import { readUnits, writeUnits, type Item, type TableShape } from './dynamo-units';

/** The user agent (and header) of requests the bench makes for itself. */
export const BENCH_MARK = 'stackjobs-bench-internal';
const marked = (h: IncomingHttpHeaders) =>
  h['x-stackjobs-bench'] === 'internal' || `${String(h['user-agent'] ?? '')} ${String(h['x-amz-user-agent'] ?? '')}`.includes(BENCH_MARK);

export interface DynamoRecord {
  at: number;
  op: string;
  table: string;
  /** Write units: table + indexes (writes only). */
  writeUnits: number;
  indexWriteUnits: Record<string, number>;
  /** Read units (reads only). */
  readUnits: number;
  /** A Query/Scan with a FilterExpression: the items it examined but filtered out are not counted. */
  filtered: boolean;
  failed: boolean;
  bytes: number;
  /** An operation this accounting does not price (BatchWriteItem, transactions): counted, not priced. */
  unpriced?: boolean;
}

export interface S3Record {
  at: number;
  method: string;
  /** 'tier1' = PUT, COPY, POST, LIST; 'tier2' = GET, HEAD (and other reads); 'free' = DELETE. */
  tier: 'tier1' | 'tier2' | 'free';
  bytes: number;
}

export interface Gate {
  /** Local mode's DynamoDB endpoint (its signature gate) and this run's credentials. */
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** The table's keys and indexes as the running table has them (tableShape). */
  shapeOf: (table: string) => TableShape;
}

/** A table's keys and global secondary indexes (with their projections) as DescribeTable reports them. */
export async function tableShape(endpoint: string, credentials: Gate['credentials'], table: string): Promise<TableShape> {
  const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials, customUserAgent: BENCH_MARK });
  try {
    const t = (await client.send(new DescribeTableCommand({ TableName: table }))).Table!;
    const key = (ks: Array<{ AttributeName?: string; KeyType?: string }> | undefined, type: string) => ({
      name: ks?.find((k) => k.KeyType === type)?.AttributeName ?? '',
    });
    return {
      partitionKey: key(t.KeySchema, 'HASH'),
      sortKey: key(t.KeySchema, 'RANGE'),
      indexes: (t.GlobalSecondaryIndexes ?? []).map((g) => ({
        indexName: g.IndexName!,
        partitionKey: { ...key(g.KeySchema, 'HASH'), type: 'S' as const },
        sortKey: { ...key(g.KeySchema, 'RANGE'), type: 'S' as const },
        projection:
          g.Projection?.ProjectionType === 'KEYS_ONLY'
            ? { type: 'KEYS_ONLY' as const }
            : g.Projection?.ProjectionType === 'INCLUDE'
              ? { type: 'INCLUDE' as const, nonKeyAttributes: g.Projection.NonKeyAttributes ?? [] }
              : { type: 'ALL' as const },
      })),
    };
  } finally {
    client.destroy();
  }
}

/** Sends `req` as it came (signature intact) to `endpoint`, marked, and returns the answer. */
function forward(endpoint: string, req: ProxiedRequest): Promise<InjectedResponse> {
  const to = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const r = httpRequest(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, 'x-stackjobs-bench': 'internal' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) {
            if (v === undefined || ['content-length', 'transfer-encoding', 'connection', 'keep-alive'].includes(k)) continue;
            headers[k] = Array.isArray(v) ? v.join(', ') : v;
          }
          resolve({ status: res.statusCode ?? 502, headers, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    r.end(req.body);
  });
}

/** The DynamoDB accounting rule; `gate()` is undefined until local mode has started (requests are then passed on uncounted). */
export function dynamoAccounting(gate: () => Gate | undefined): { rule: FaultRule; records: DynamoRecord[] } {
  const records: DynamoRecord[] = [];
  let client: DynamoDBClient | undefined;
  const imageOf = async (g: Gate, table: string, key: Record<string, AttributeValue>): Promise<Item | undefined> => {
    client ??= new DynamoDBClient({ endpoint: g.endpoint, region: 'us-east-1', credentials: g.credentials, customUserAgent: BENCH_MARK, maxAttempts: 5 });
    const out = await client.send(new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true }));
    return out.Item as Item | undefined;
  };
  const rule: FaultRule = async (req) => {
    const g = gate();
    if (!g || marked(req.headers)) return undefined;
    const op = dynamoOperation(req);
    const body = JSON.parse(req.body.toString('utf8') || '{}') as {
      TableName?: string;
      Key?: Record<string, AttributeValue>;
      Item?: Record<string, AttributeValue>;
      ConsistentRead?: boolean;
      FilterExpression?: string;
    };
    const table = body.TableName ?? '';
    const write = /^(PutItem|UpdateItem|DeleteItem)$/.test(op);
    const key = body.Key ?? (body.Item ? { pk: body.Item.pk, sk: body.Item.sk } : undefined);
    const before = write && key ? await imageOf(g, table, key) : undefined;
    const res = await forward(g.endpoint, req);
    const record: DynamoRecord = {
      at: performance.now(),
      op,
      table,
      writeUnits: 0,
      indexWriteUnits: {},
      readUnits: 0,
      filtered: Boolean(body.FilterExpression),
      failed: res.status >= 300,
      bytes: req.body.length + Buffer.byteLength(res.body),
    };
    if (write && key) {
      const conditionFailed = res.body.includes('ConditionalCheckFailedException');
      const after = res.status < 300 ? await imageOf(g, table, key) : before;
      if (res.status < 300 || conditionFailed) {
        const units = writeUnits(before, after, g.shapeOf(table), conditionFailed);
        record.writeUnits = units.total;
        record.indexWriteUnits = units.indexes;
      }
    } else if (/^(GetItem|Query|Scan)$/.test(op) && res.status < 300) {
      const out = JSON.parse(res.body) as { Item?: Item; Items?: Item[] };
      record.readUnits = readUnits(op === 'GetItem' ? (out.Item ? [out.Item] : []) : (out.Items ?? []), body.ConsistentRead === true);
    } else if (op === 'BatchGetItem' && res.status < 300) {
      // Each item of a batch is rounded up on its own; a key not found still costs a (half) unit.
      const asked =
        (JSON.parse(req.body.toString('utf8')) as { RequestItems?: Record<string, { Keys?: unknown[]; ConsistentRead?: boolean }> }).RequestItems ?? {};
      const got = (JSON.parse(res.body) as { Responses?: Record<string, Item[]> }).Responses ?? {};
      for (const [t, q] of Object.entries(asked)) {
        const items = got[t] ?? [];
        const missing = Math.max(0, (q.Keys?.length ?? 0) - items.length);
        record.readUnits += items.reduce((n, i) => n + readUnits([i], q.ConsistentRead === true), 0) + missing * (q.ConsistentRead ? 1 : 0.5);
      }
    } else if (res.status < 300) {
      record.unpriced = true;
    }
    records.push(record);
    return res;
  };
  return {
    rule,
    records,
  };
}

/** S3 request counting by billing class, and bytes uploaded (path-style URLs: /<bucket>/<key>?query). */
export function s3Accounting(): { rule: FaultRule; records: S3Record[] } {
  const records: S3Record[] = [];
  const rule: FaultRule = (req) => {
    if (marked(req.headers)) return undefined;
    const url = new URL(req.url, 'http://s3.local');
    const [, key] = url.pathname.replace(/^\/+/, '').split(/\/(.*)/s);
    const bucketLevel = !key;
    const method = req.method.toUpperCase();
    const tier: S3Record['tier'] =
      method === 'DELETE'
        ? 'free'
        : method === 'PUT' || method === 'POST' || (method === 'GET' && (bucketLevel || url.searchParams.has('list-type')))
          ? 'tier1'
          : 'tier2';
    records.push({ at: performance.now(), method, tier, bytes: req.body.length });
    return undefined;
  };
  return { rule, records };
}
