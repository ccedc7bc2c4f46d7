/**
 * The jobs table's indexes copy keys only: every query reads job keys from its index and the jobs from the table, in
 * the index's order, with the same answers as before. During an upgrade a query whose index is not there yet is
 * answered by the legacy index it replaces. A status write of an open job touches no index key.
 */
import { createTables } from '../../local/embedded-dynamo';
import { BatchGetCommand, GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { JobRepository } from '../../lambdas/adapters/dynamodb/job-repository';
import { jobKey } from '../../lambdas/adapters/dynamodb/keys';
import { JOBS_TABLE, LEGACY_JOBS_INDEXES } from '../../lambdas/adapters/dynamodb/table-definitions';
import { stackKeyOfJob } from '../../lambdas/domain/stack-job';
import { transitionJob } from '../../lambdas/domain/status';
import type { StackJob } from '../../lambdas/domain/schemas';
import { JOBS, startDynamo, type TestDynamo } from './support/dynamo';
import { makeJob } from './support/jobs';

let dynamo: TestDynamo;
beforeAll(async () => {
  dynamo = await startDynamo();
  // A table as a deployment has it before its upgrade: only the legacy indexes (every attribute copied).
  await createTables(dynamo.server.endpoint, { legacy: { ...JOBS_TABLE, indexes: Object.values(LEGACY_JOBS_INDEXES) } });
});
afterAll(() => dynamo.stop());

const ids = (jobs: StackJob[]) => jobs.map((j) => j.metadata.id);
const complete = (j: StackJob) => transitionJob(transitionJob(j, 'running', 'tbd', new Date()), 'completed', 'succeeded', new Date());

/** Three jobs of one stack (the first completed) and one of another, written through `jobs`. */
async function seed(jobs: JobRepository, resourceId: string) {
  const [done, open1, open2] = [makeJob({ resourceId }), makeJob({ resourceId }), makeJob({ resourceId })];
  const other = makeJob({ resourceId: `${resourceId}-other` });
  for (const j of [done, open1, open2, other]) await jobs.create(j);
  await jobs.update(done.metadata.id, complete);
  return { done, open1, open2, other, stack: stackKeyOfJob(done) };
}

it.each([
  ['this version’s keys-only indexes', JOBS],
  ['only the legacy indexes (a table before its upgrade)', 'legacy'],
])('answers every query from %s the same way', async (_, table) => {
  const jobs = new JobRepository(dynamo.db, table);
  const { done, open1, open2, other, stack } = await seed(jobs, `res-${table}`);
  expect(ids(await jobs.listStack(stack))).toEqual(ids([done, open1, open2]));
  expect((await jobs.listStack(stack))[0].status.phase).toBe('completed');
  expect(ids(await jobs.listOpenInStack(stack))).toEqual(ids([open1, open2]));
  expect((await jobs.newestInStack(stack))?.metadata.id).toBe(open2.metadata.id);
  expect(ids(await jobs.listUnfinished())).toEqual(expect.arrayContaining(ids([open1, open2, other])));
  expect(ids(await jobs.listUnfinished())).not.toContain(done.metadata.id);
  const [env, resourceId] = [done.metadata.env, done.metadata.name];
  expect(ids((await jobs.list({ org: 'acmecorp', env, resourceId, limit: 10 })).items)).toEqual(ids([open2, open1, done]));
  expect(ids((await jobs.list({ org: 'acmecorp', env, resourceId, phase: 'completed', limit: 10 })).items)).toEqual(ids([done]));
  expect(ids((await jobs.list({ org: 'acmecorp', resourceId: other.metadata.name, limit: 10 })).items)).toEqual(ids([other]));
});

it('pages a filtered listing by index entries, and gives no cursor when nothing after the page matches', async () => {
  const jobs = new JobRepository(dynamo.db, JOBS);
  const { done, open1, open2 } = await seed(jobs, 'res-paging');
  const [env, resourceId] = [done.metadata.env, done.metadata.name];
  // Newest first: open2, open1, done. After open1 only `done` is left, which the filter drops: no cursor to an empty page.
  const first = await jobs.list({ org: 'acmecorp', env, resourceId, phase: 'queued', limit: 1 });
  expect(ids(first.items)).toEqual([open2.metadata.id]);
  const second = await jobs.list({ org: 'acmecorp', env, resourceId, phase: 'queued', limit: 1, cursor: first.cursor });
  expect(second).toEqual({ items: [expect.objectContaining({ metadata: open1.metadata })], cursor: undefined });
  // A cursor names the index entry (table and index keys), as before: one of another listing is refused.
  expect(JSON.parse(Buffer.from(first.cursor!, 'base64url').toString('utf8'))).toEqual({
    pk: `JOB#${open2.metadata.id}`,
    sk: 'JOB',
    gsi1pk: `STACK#${stackKeyOfJob(open2)}`,
    gsi1sk: open2.metadata.id,
  });
  await expect(jobs.list({ org: 'acmecorp', limit: 1, cursor: first.cursor })).rejects.toThrow('invalid cursor');
});

it('reads a bounded look-ahead after a full page: past it the cursor stays, a listing never reads the rest of the partition', async () => {
  const sent: Array<Record<string, unknown>> = [];
  const recording = {
    send: (command: { input: Record<string, unknown> }) => {
      sent.push(command.input);
      return dynamo.db.send(command as never);
    },
  } as unknown as DynamoDBDocumentClient;
  const jobs = new JobRepository(recording, JOBS);
  // Oldest first: 30 completed jobs, then one queued. A listing of queued jobs, one per page.
  const resourceId = 'res-look-ahead';
  for (let i = 0; i < 30; i++) {
    const j = makeJob({ resourceId });
    await jobs.create(j);
    await jobs.update(j.metadata.id, complete);
  }
  const queued = makeJob({ resourceId });
  await jobs.create(queued);
  sent.length = 0;
  const page = await jobs.list({ org: 'acmecorp', env: queued.metadata.env, resourceId, phase: 'queued', limit: 1 });
  expect(ids(page.items)).toEqual([queued.metadata.id]);
  // The page's query and one look-ahead of 10 entries (with their jobs); 20 more completed jobs lie beyond, unread.
  expect(sent.filter((c) => 'KeyConditionExpression' in c).map((c) => c.Limit)).toEqual([1, 10]);
  expect(page.cursor).toBeDefined();
});

it('writes the open-queue keys only when they change: with a new job, to an open job that lacks them, away on completion', async () => {
  const sent: Array<Record<string, unknown>> = [];
  const recording = {
    send: (command: { input: Record<string, unknown> }) => {
      if (command instanceof UpdateCommand) sent.push(command.input);
      return dynamo.db.send(command as never);
    },
  } as unknown as DynamoDBDocumentClient;
  const jobs = new JobRepository(recording, JOBS);
  const job = makeJob({ resourceId: 'res-open-keys' });
  await jobs.create(job);
  const item = async () => (await dynamo.db.send(new GetCommand({ TableName: JOBS, Key: jobKey(job.metadata.id) }))).Item!;
  expect((await item()).gsi3pk).toBe(`STACK#${stackKeyOfJob(job)}`);

  await jobs.update(job.metadata.id, (j) => ({ ...j, status: { ...j.status, queuePosition: 2 } }));
  expect(sent.pop()!.UpdateExpression).toBe('SET #job = :job, rev = :next');
  // An open job written before the index existed gets its keys with its next write.
  await dynamo.db.send(new UpdateCommand({ TableName: JOBS, Key: jobKey(job.metadata.id), UpdateExpression: 'REMOVE gsi3pk, gsi3sk' }));
  await jobs.update(job.metadata.id, (j) => ({ ...j, status: { ...j.status, queuePosition: 1 } }));
  expect(sent.pop()!.UpdateExpression).toBe('SET #job = :job, rev = :next, gsi3pk = :g3pk, gsi3sk = :g3sk');
  expect(await item()).toMatchObject({ gsi3pk: `STACK#${stackKeyOfJob(job)}`, gsi3sk: job.metadata.id });
  await jobs.update(job.metadata.id, complete);
  expect(sent.pop()!.UpdateExpression).toBe('SET #job = :job, rev = :next REMOVE gsi3pk, gsi3sk');
  expect((await item()).gsi3pk).toBeUndefined();
});

it('asks again for the jobs DynamoDB left unprocessed, and keeps the index order', async () => {
  const jobs0 = new JobRepository(dynamo.db, JOBS);
  const { done, open1, open2, stack } = await seed(jobs0, 'res-unprocessed');
  let batches = 0;
  const throttling = {
    send: async (command: { input: { RequestItems?: Record<string, { Keys: Record<string, unknown>[] }> } }) => {
      if (!(command instanceof BatchGetCommand)) return dynamo.db.send(command as never);
      batches++;
      const keys = command.input.RequestItems![JOBS].Keys;
      if (batches > 1 || keys.length < 2) return dynamo.db.send(command as never);
      // The first batch: the last key is left unprocessed, the rest answered in reverse order.
      const out = await dynamo.db.send(new BatchGetCommand({ RequestItems: { [JOBS]: { Keys: keys.slice(0, -1) } } }));
      return { Responses: { [JOBS]: [...out.Responses![JOBS]].reverse() }, UnprocessedKeys: { [JOBS]: { Keys: keys.slice(-1) } } };
    },
  } as unknown as DynamoDBDocumentClient;
  expect(ids(await new JobRepository(throttling, JOBS).listStack(stack))).toEqual(ids([done, open1, open2]));
  expect(batches).toBe(2);
});

it('reads the open queue consistently from the table: a job the index still lists shows as it is now', async () => {
  const jobs = new JobRepository(dynamo.db, JOBS);
  const job = makeJob({ resourceId: 'res-consistent' });
  await jobs.create(job);
  const consistent: unknown[] = [];
  const watching = {
    send: (command: { input: { RequestItems?: Record<string, { ConsistentRead?: boolean }> } }) => {
      if (command instanceof BatchGetCommand) consistent.push(command.input.RequestItems![JOBS].ConsistentRead);
      return dynamo.db.send(command as never);
    },
  } as unknown as DynamoDBDocumentClient;
  await new JobRepository(watching, JOBS).listOpenInStack(stackKeyOfJob(job));
  await new JobRepository(watching, JOBS).listStack(stackKeyOfJob(job));
  expect(consistent).toEqual([true, false]);
});
