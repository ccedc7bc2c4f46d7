/**
 * Upgrading a kept local data directory: a jobs table made by a version without the open-by-stack index, or whose
 * indexes copy other attributes than this version's, is rebuilt with this version's indexes, every item kept, and the
 * backfill gives unfinished jobs their keys (the step an AWS upgrade runs too).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteTableCommand, DescribeTableCommand, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand, QueryCommand, ScanCommand as DocScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '../../lambdas/adapters/dynamodb/client';
import { JobRepository } from '../../lambdas/adapters/dynamodb/job-repository';
import { JOBS_INDEX_BY_STACK, JOBS_INDEX_OPEN_BY_STACK, JOBS_TABLE, LEGACY_JOBS_INDEXES } from '../../lambdas/adapters/dynamodb/table-definitions';
import { stackKeyOfJob } from '../../lambdas/domain/stack-job';
import { transitionJob } from '../../lambdas/domain/status';
import { createTables, ensureTable, LOCAL_CREDENTIALS, startEmbeddedDynamo, waitForTable, type EmbeddedDynamo } from '../../local/embedded-dynamo';
import { tablesFromTemplate } from '../../local/local-mode';
import { synthesizeTemplate } from '../../infra/asl';
import { makeJob } from '../orchestration/support/jobs';
import { ApprovalItemRepository } from '../../lambdas/adapters/dynamodb/approval-item-repository';

let dynamo: EmbeddedDynamo;
let client: DynamoDBClient;
let dataDir: string;
beforeAll(async () => {
  // On disk, as `npm run local` keeps it: dynalite's deletes and creates land after it has answered.
  dataDir = mkdtempSync(join(tmpdir(), 'stackjobs-rebuild-'));
  dynamo = await startEmbeddedDynamo({ path: join(dataDir, 'dynamodb') });
  client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
});
afterAll(async () => {
  client.destroy();
  await dynamo.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** The jobs table as the previous version made it (no open-by-stack index), under `name`. */
async function previousVersionTable(name: string): Promise<void> {
  await createTables(dynamo.endpoint, { [name]: { ...JOBS_TABLE, indexes: JOBS_TABLE.indexes.filter((i) => i.indexName !== JOBS_INDEX_OPEN_BY_STACK) } });
  // On disk, dynalite makes the table after answering.
  await waitForTable(client, name, (status) => status === 'ACTIVE');
}
const jobsTableInput = () =>
  tablesFromTemplate(synthesizeTemplate()).find((t) => t.GlobalSecondaryIndexes?.some((i) => i.IndexName === JOBS_INDEX_OPEN_BY_STACK))!;

it('rebuilds a kept jobs table that lacks an index, keeps every item, and backfills the open jobs', async () => {
  const input = jobsTableInput();
  const name = input.TableName!;
  await previousVersionTable(name);
  const db = documentClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  const jobs = new JobRepository(db, name);
  const [open, finished] = [makeJob({ resourceId: 'res-upgrade' }), makeJob({ resourceId: 'res-upgrade' })];
  for (const j of [open, finished]) await jobs.create(j);
  await jobs.update(finished.metadata.id, (j) => transitionJob(transitionJob(j, 'running', 'tbd', new Date()), 'completed', 'succeeded', new Date()));
  // Items as the previous version wrote them: no open-index keys.
  for (const j of [open, finished])
    await db.send(new UpdateCommand({ TableName: name, Key: { pk: `JOB#${j.metadata.id}`, sk: 'JOB' }, UpdateExpression: 'REMOVE gsi3pk, gsi3sk' }));
  await new ApprovalItemRepository(db, name).putApprovalRef('apr_kept', open.metadata.id);

  expect(await ensureTable(client, input, dataDir)).toBe('rebuilt');
  expect(existsSync(join(dataDir, `${name}.rebuild.json`))).toBe(false);
  const indexes = (await client.send(new DescribeTableCommand({ TableName: name }))).Table!.GlobalSecondaryIndexes!.map((i) => i.IndexName).sort();
  expect(indexes).toEqual(input.GlobalSecondaryIndexes!.map((i) => i.IndexName).sort());
  // Every item is back: both jobs (documents and revisions) and the approval reference.
  expect((await jobs.require(open.metadata.id)).job).toEqual(open);
  expect((await jobs.require(finished.metadata.id)).job.status.phase).toBe('completed');
  expect(await new ApprovalItemRepository(db, name).findJobIdByApproval('apr_kept')).toBe(open.metadata.id);
  expect(await jobs.listOpenInStack(stackKeyOfJob(open))).toEqual([]);

  expect(await jobs.backfillOpenIndex()).toBe(1);
  expect((await jobs.listOpenInStack(stackKeyOfJob(open))).map((j) => j.metadata.id)).toEqual([open.metadata.id]);
  expect((await db.send(new GetCommand({ TableName: name, Key: { pk: `JOB#${finished.metadata.id}`, sk: 'JOB' } }))).Item!.gsi3pk).toBeUndefined();
  // Both steps are idempotent: nothing more to rebuild or fill.
  expect(await ensureTable(client, input, dataDir)).toBe('current');
  expect(await jobs.backfillOpenIndex()).toBe(0);
  db.destroy();
});

it('keeps every item through rebuild after rebuild on disk (dynalite drops and creates tables after answering)', async () => {
  for (let round = 0; round < 6; round++) {
    const input = { ...jobsTableInput(), TableName: `rounds_${round}` };
    await previousVersionTable(input.TableName);
    const db = documentClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
    const jobs = new JobRepository(db, input.TableName);
    for (let i = 0; i < 30; i++) await jobs.create(makeJob({ resourceId: `res-round-${round}-${i % 3}` }));
    expect({ round, setup: await ensureTable(client, input, dataDir) }).toEqual({ round, setup: 'rebuilt' });
    expect({ round, items: (await client.send(new ScanCommand({ TableName: input.TableName, Select: 'COUNT', ConsistentRead: true }))).Count }).toEqual({
      round,
      items: 30,
    });
    db.destroy();
  }
});

it('finishes a rebuild that was interrupted, from the copy it saved first', async () => {
  const input = { ...jobsTableInput(), TableName: 'interrupted' };
  await previousVersionTable('interrupted');
  const db = documentClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  const jobs = new JobRepository(db, 'interrupted');
  const kept = makeJob({ resourceId: 'res-interrupted' });
  await jobs.create(kept);
  const items = (await client.send(new ScanCommand({ TableName: 'interrupted', ConsistentRead: true }))).Items!;
  // The previous start saved the copy and dropped the table, then died.
  writeFileSync(join(dataDir, 'interrupted.rebuild.json'), JSON.stringify(items));
  await client.send(new DeleteTableCommand({ TableName: 'interrupted' }));
  expect(await ensureTable(client, input, dataDir)).toBe('rebuilt');
  expect((await jobs.require(kept.metadata.id)).job).toEqual(kept);
  expect(existsSync(join(dataDir, 'interrupted.rebuild.json'))).toBe(false);
  db.destroy();
});

it('refuses to rebuild an outdated table when no backup directory is given (tests create tables this way)', async () => {
  await previousVersionTable('outdated');
  await expect(createTables(dynamo.endpoint, { outdated: JOBS_TABLE })).rejects.toThrow(
    'table outdated lacks indexes of its definition and no backup directory was given',
  );
  expect((await client.send(new DescribeTableCommand({ TableName: 'outdated' }))).Table!.GlobalSecondaryIndexes!.map((i) => i.IndexName)).not.toContain(
    JOBS_INDEX_OPEN_BY_STACK,
  );
});

it('backfills conditionally on the revision it read: a job that completes meanwhile gets no open-index keys back', async () => {
  const input = { ...jobsTableInput(), TableName: 'backfill_race' };
  await ensureTable(client, input);
  const db = documentClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  const jobs = new JobRepository(db, 'backfill_race');
  const job = makeJob({ resourceId: 'res-backfill-race' });
  await jobs.create(job);
  await db.send(new UpdateCommand({ TableName: 'backfill_race', Key: { pk: `JOB#${job.metadata.id}`, sk: 'JOB' }, UpdateExpression: 'REMOVE gsi3pk, gsi3sk' }));
  // Between the backfill's scan and its write, the job completes (its own write removes the keys it never had).
  let raced = false;
  const racing = {
    send: async (command: Parameters<typeof db.send>[0]) => {
      const out = await db.send(command);
      if (!raced && command instanceof DocScanCommand) {
        raced = true;
        await jobs.update(job.metadata.id, (j) => transitionJob(transitionJob(j, 'running', 'tbd', new Date()), 'completed', 'succeeded', new Date()));
      }
      return out;
    },
  } as unknown as typeof db;
  expect(await new JobRepository(racing, 'backfill_race').backfillOpenIndex()).toBe(0);
  expect((await db.send(new GetCommand({ TableName: 'backfill_race', Key: { pk: `JOB#${job.metadata.id}`, sk: 'JOB' } }))).Item!.gsi3pk).toBeUndefined();
  db.destroy();
});

/** The projections DescribeTable reports, by index name. */
async function projections(table: string): Promise<Record<string, unknown>> {
  const t = (await client.send(new DescribeTableCommand({ TableName: table }))).Table!;
  return Object.fromEntries((t.GlobalSecondaryIndexes ?? []).map((i) => [i.IndexName, i.Projection]));
}

it("makes the jobs table local mode runs with exactly table-definitions.ts's projections (from the synthesized template)", async () => {
  const input = { ...jobsTableInput(), TableName: 'as_deployed' };
  expect(await ensureTable(client, input, dataDir)).toBe('created');
  expect(await projections('as_deployed')).toEqual(Object.fromEntries(JOBS_TABLE.indexes.map((i) => [i.indexName, { ProjectionType: i.projection.type }])));
  expect(JOBS_TABLE.indexes.map((i) => i.projection.type)).toEqual(['KEYS_ONLY', 'KEYS_ONLY', 'KEYS_ONLY']);
  // An index entry is the keys, nothing of the job: every query reads the jobs from the table.
  const db = documentClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  const job = makeJob({ resourceId: 'res-keys-only' });
  await new JobRepository(db, 'as_deployed').create(job);
  const entries = await db.send(
    new QueryCommand({
      TableName: 'as_deployed',
      IndexName: JOBS_INDEX_BY_STACK,
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': `STACK#${stackKeyOfJob(job)}` },
    }),
  );
  expect(entries.Items!.map((i) => Object.keys(i).sort())).toEqual([['gsi1pk', 'gsi1sk', 'pk', 'sk']]);
  expect((await new JobRepository(db, 'as_deployed').listStack(stackKeyOfJob(job))).map((j) => j.metadata.id)).toEqual([job.metadata.id]);
  db.destroy();
});

it('rebuilds a kept jobs table whose indexes have the right names but copy every attribute, keeping every item', async () => {
  const input = { ...jobsTableInput(), TableName: 'copies_all' };
  await createTables(dynamo.endpoint, {
    copies_all: { ...JOBS_TABLE, indexes: JOBS_TABLE.indexes.map((i) => ({ ...i, projection: { type: 'ALL' as const } })) },
  });
  await waitForTable(client, 'copies_all', (status) => status === 'ACTIVE');
  const db = documentClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  const jobs = new JobRepository(db, 'copies_all');
  const kept = makeJob({ resourceId: 'res-copies-all' });
  await jobs.create(kept);
  await expect(createTables(dynamo.endpoint, { copies_all: JOBS_TABLE })).rejects.toThrow(/copies other attributes or has other keys/);

  expect(await ensureTable(client, input, dataDir)).toBe('rebuilt');
  expect(Object.values(await projections('copies_all'))).toEqual([
    { ProjectionType: 'KEYS_ONLY' },
    { ProjectionType: 'KEYS_ONLY' },
    { ProjectionType: 'KEYS_ONLY' },
  ]);
  expect((await jobs.require(kept.metadata.id)).job).toEqual(kept);
  expect((await jobs.listOpenInStack(stackKeyOfJob(kept))).map((j) => j.metadata.id)).toEqual([kept.metadata.id]);
  expect(await ensureTable(client, input, dataDir)).toBe('current');
  db.destroy();
});

it("rebuilds a kept jobs table of the previous version (its indexes under their old names) with this version's only", async () => {
  const input = { ...jobsTableInput(), TableName: 'previous_names' };
  await createTables(dynamo.endpoint, { previous_names: { ...JOBS_TABLE, indexes: Object.values(LEGACY_JOBS_INDEXES) } });
  await waitForTable(client, 'previous_names', (status) => status === 'ACTIVE');
  const db = documentClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  const kept = makeJob({ resourceId: 'res-previous-names' });
  await new JobRepository(db, 'previous_names').create(kept);

  expect(await ensureTable(client, input, dataDir)).toBe('rebuilt');
  expect(Object.keys(await projections('previous_names')).sort()).toEqual(JOBS_TABLE.indexes.map((i) => i.indexName).sort());
  expect((await new JobRepository(db, 'previous_names').listStack(stackKeyOfJob(kept))).map((j) => j.metadata.id)).toEqual([kept.metadata.id]);
  db.destroy();
});
