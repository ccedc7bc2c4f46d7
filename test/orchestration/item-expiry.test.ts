/** Temporary items carry the table's TTL attribute, so DynamoDB removes them; the job and its lease never expire. */
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { JobRepository } from '../../lambdas/adapters/dynamodb/job-repository';
import { LockRepository } from '../../lambdas/adapters/dynamodb/lock-repository';
import { ITEM_TTL_SECONDS, JOBS_TABLE } from '../../lambdas/adapters/dynamodb/table-definitions';
import { JOBS, startDynamo, type TestDynamo } from './support/dynamo';
import { makeJob } from './support/jobs';
import { ApprovalItemRepository } from '../../lambdas/adapters/dynamodb/approval-item-repository';
import { IdempotencyRepository } from '../../lambdas/adapters/dynamodb/idempotency-repository';

let dynamo: TestDynamo;
beforeAll(async () => {
  dynamo = await startDynamo();
});
afterAll(() => dynamo.stop());

it('writes ttl on task tokens, lock-wait tokens, idempotency records and approval refs, and none on jobs or leases', async () => {
  const now = new Date('2026-12-01T00:00:00Z');
  const epoch = now.getTime() / 1000;
  const jobs = new JobRepository(dynamo.db, JOBS);
  const approvalItems = new ApprovalItemRepository(dynamo.db, JOBS, () => now);
  const idempotency = new IdempotencyRepository(dynamo.db, JOBS, () => now);
  const locks = new LockRepository(dynamo.db, JOBS, () => now);
  const job = makeJob();
  const id = job.metadata.id;
  expect((await idempotency.claim('idem-ttl', job)).claimed).toBe(true);
  await jobs.create(job);
  await approvalItems.setTaskToken(id, 'approval-token');
  await approvalItems.putApprovalRef('apr_ttl', id);
  await locks.parkWaiter('acmecorp/production/x', id, 'lock-token');
  await locks.tryAcquire('acmecorp/production/x', id, new Date(now.getTime() + 3600_000));

  const items = ((await dynamo.db.send(new ScanCommand({ TableName: JOBS }))).Items ?? []) as Array<{ pk: string; sk: string; ttl?: number }>;
  const ttlOf = (pk: string, sk: string) => items.find((i) => i.pk === pk && i.sk === sk)?.ttl;
  expect(JOBS_TABLE.timeToLiveAttribute).toBe('ttl');
  expect(ttlOf(`TOKEN#${id}`, 'TOKEN')).toBe(epoch + ITEM_TTL_SECONDS.taskToken);
  expect(ttlOf(`TOKEN#${id}`, 'LOCKWAIT')).toBe(epoch + ITEM_TTL_SECONDS.lockWaitToken);
  expect(ttlOf('IDEM#idem-ttl', 'IDEM')).toBe(epoch + ITEM_TTL_SECONDS.idempotency);
  expect(ttlOf('APR#apr_ttl', 'APR')).toBe(epoch + ITEM_TTL_SECONDS.approvalRef);
  // The approval window (at most 7 days) ends before its token may go.
  expect(ITEM_TTL_SECONDS.taskToken).toBeGreaterThan(7 * 86_400);
  for (const i of items.filter((x) => x.pk.startsWith('JOB#') || x.pk.startsWith('LOCK#')))
    expect({ pk: i.pk, ttl: i.ttl }).toEqual({ pk: i.pk, ttl: undefined });
  expect(items.some((i) => i.pk.startsWith('JOB#'))).toBe(true);
});
