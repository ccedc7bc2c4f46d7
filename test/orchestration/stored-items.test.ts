/**
 * Items are validated when they are read (keys.ts lists their layouts): a job or an idempotency snapshot that does not
 * have the StackJob shape fails loudly, naming its key and the fields, never quoting what the item holds.
 */
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { IdempotencyRepository } from '../../lambdas/adapters/dynamodb/idempotency-repository';
import { JobRepository } from '../../lambdas/adapters/dynamodb/job-repository';
import { idempotencyKey, jobKey, PREFIX } from '../../lambdas/adapters/dynamodb/keys';
import { stackKeyOfJob } from '../../lambdas/domain/stack-job';
import { JOBS, startDynamo, type TestDynamo } from './support/dynamo';
import { makeJob } from './support/jobs';

let dynamo: TestDynamo;
beforeAll(async () => {
  dynamo = await startDynamo();
});
afterAll(() => dynamo.stop());

const PLANTED = 'PLANTED-SECRET-IN-A-BAD-ITEM';

it('refuses a job item whose document lost a field or gained one, by key, on every read path', async () => {
  const jobs = new JobRepository(dynamo.db, JOBS);
  const job = makeJob({ resourceId: 'res-bad-item' });
  await jobs.create(job);
  await dynamo.db.send(
    new UpdateCommand({
      TableName: JOBS,
      Key: jobKey(job.metadata.id),
      UpdateExpression: 'REMOVE #job.#status.#phase SET #job.#leak = :v',
      ExpressionAttributeNames: { '#job': 'job', '#status': 'status', '#phase': 'phase', '#leak': 'leak' },
      ExpressionAttributeValues: { ':v': PLANTED },
    }),
  );
  const reads = [
    () => jobs.get(job.metadata.id),
    () => jobs.listStack(stackKeyOfJob(job)),
    () => jobs.listOpenInStack(stackKeyOfJob(job)),
    () => jobs.newestInStack(stackKeyOfJob(job)),
    () => jobs.update(job.metadata.id, (j) => j),
  ];
  for (const read of reads) {
    const error = await read().then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.name).toBe('InvalidStoredItemError');
    expect(error?.message).toContain(`${PREFIX.job}${job.metadata.id}`);
    expect(error?.message).toMatch(/status\.phase/);
    expect(error?.message).not.toContain(PLANTED);
  }
});

it('refuses an idempotency record whose snapshot is not a StackJob', async () => {
  const idempotency = new IdempotencyRepository(dynamo.db, JOBS);
  await dynamo.db.send(
    new PutCommand({ TableName: JOBS, Item: { ...idempotencyKey('bad-snapshot'), jobId: 'sj_x', snapshot: { kind: 'StackJob', note: PLANTED } } }),
  );
  const error = await idempotency.find('bad-snapshot').then(
    () => undefined,
    (e: Error) => e,
  );
  expect([error?.name, error?.message.includes('IDEM#bad-snapshot'), error?.message.includes(PLANTED)]).toEqual(['InvalidStoredItemError', true, false]);
});
