/**
 * Upgrading a kept local data directory: a jobs table made by a version without the open-by-stack index is rebuilt
 * with it, every item kept, and the backfill gives unfinished jobs their keys (the step an AWS upgrade runs too).
 */
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '../../lambdas/adapters/dynamodb/client';
import { JobRepository } from '../../lambdas/adapters/dynamodb/job-repository';
import { JOBS_INDEX_OPEN_BY_STACK, JOBS_TABLE } from '../../lambdas/adapters/dynamodb/table-definitions';
import { stackKeyOfJob } from '../../lambdas/domain/stack-job';
import { transitionJob } from '../../lambdas/domain/status';
import { createTables, ensureTable, LOCAL_CREDENTIALS, startEmbeddedDynamo, type EmbeddedDynamo } from '../../local/embedded-dynamo';
import { tablesFromTemplate } from '../../local/local-mode';
import { synthesizeTemplate } from '../../infra/asl';
import { makeJob } from '../orchestration/support/jobs';

let dynamo: EmbeddedDynamo;
let client: DynamoDBClient;
beforeAll(async () => {
  dynamo = await startEmbeddedDynamo();
  client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
});
afterAll(async () => {
  client.destroy();
  await dynamo.stop();
});

it('rebuilds a kept jobs table that lacks an index, keeps every item, and backfills the open jobs', async () => {
  const template = synthesizeTemplate();
  const input = tablesFromTemplate(template).find((t) => t.GlobalSecondaryIndexes?.some((i) => i.IndexName === JOBS_INDEX_OPEN_BY_STACK))!;
  const name = input.TableName!;
  // The table as the previous version made it: no open-by-stack index.
  await createTables(dynamo.endpoint, { [name]: { ...JOBS_TABLE, indexes: JOBS_TABLE.indexes.filter((i) => i.indexName !== JOBS_INDEX_OPEN_BY_STACK) } });
  const db = documentClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  const jobs = new JobRepository(db, name);
  const [open, finished] = [makeJob({ resourceId: 'res-upgrade' }), makeJob({ resourceId: 'res-upgrade' })];
  for (const j of [open, finished]) await jobs.create(j);
  await jobs.update(finished.metadata.id, (j) => transitionJob(transitionJob(j, 'running', 'tbd', new Date()), 'completed', 'succeeded', new Date()));
  // Items as the previous version wrote them: no open-index keys.
  for (const j of [open, finished]) await db.send(new UpdateCommand({ TableName: name, Key: { pk: `JOB#${j.metadata.id}`, sk: 'JOB' }, UpdateExpression: 'REMOVE gsi3pk, gsi3sk' }));
  await jobs.putApprovalRef('apr_kept', open.metadata.id);

  expect(await ensureTable(client, input)).toBe(true);
  const indexes = (await client.send(new DescribeTableCommand({ TableName: name }))).Table!.GlobalSecondaryIndexes!.map((i) => i.IndexName).sort();
  expect(indexes).toEqual(input.GlobalSecondaryIndexes!.map((i) => i.IndexName).sort());
  // Every item is back: both jobs (documents and revisions) and the approval reference.
  expect((await jobs.require(open.metadata.id)).job).toEqual(open);
  expect((await jobs.require(finished.metadata.id)).job.status.phase).toBe('completed');
  expect(await jobs.findJobIdByApproval('apr_kept')).toBe(open.metadata.id);
  expect(await jobs.listOpenInStack(stackKeyOfJob(open))).toEqual([]);

  expect(await jobs.backfillOpenIndex()).toBe(1);
  expect((await jobs.listOpenInStack(stackKeyOfJob(open))).map((j) => j.metadata.id)).toEqual([open.metadata.id]);
  expect((await db.send(new GetCommand({ TableName: name, Key: { pk: `JOB#${finished.metadata.id}`, sk: 'JOB' } }))).Item!.gsi3pk).toBeUndefined();
  // Both steps are idempotent: nothing more to rebuild or fill.
  expect(await ensureTable(client, input)).toBe(false);
  expect(await jobs.backfillOpenIndex()).toBe(0);
  db.destroy();
});
