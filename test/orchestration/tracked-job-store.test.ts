/**
 * The runner writes its job's status from the revision it last read or wrote: one request per write while nobody
 * else writes, and another writer's change (a cancel) is never overwritten, because the write's condition fails and
 * the change is read before writing again.
 */
import { JobRepository } from '../../lambdas/adapters/dynamodb/job-repository';
import type { StackJob } from '../../lambdas/domain/schemas';
import { TrackedJobStore } from '../../runner-image/src/job-store';
import { JOBS, startDynamo, type TestDynamo } from './support/dynamo';
import { makeJob } from './support/jobs';

let dynamo: TestDynamo;
const commands: string[] = [];
beforeAll(async () => {
  dynamo = await startDynamo();
  dynamo.db.middlewareStack.add(
    (next, context) => (args) => {
      commands.push(context.commandName!);
      return next(args);
    },
    { step: 'initialize', name: 'countCommands' },
  );
});
afterAll(() => dynamo.stop());
beforeEach(() => commands.splice(0));

const note = (text: string) => (j: StackJob) => ({ ...j, status: { ...j.status, logPrefix: text } });

it('writes without reading while it holds the newest revision: one request per status change', async () => {
  const repo = new JobRepository(dynamo.db, JOBS);
  const job = makeJob({ resourceId: 'tracked-quiet' });
  await repo.create(job);
  commands.splice(0);

  const store = new TrackedJobStore(repo);
  await store.require(job.metadata.id);
  for (let i = 0; i < 5; i++) await store.update(job.metadata.id, note(`step ${i}`));
  expect((await store.require(job.metadata.id)).job.status.logPrefix).toBe('step 4');
  expect(commands).toEqual(['GetItemCommand', ...Array.from({ length: 5 }, () => 'UpdateItemCommand')]);

  const stored = await repo.get(job.metadata.id);
  expect(stored).toMatchObject({ rev: 6, job: { status: { logPrefix: 'step 4' } } });
});

it("never overwrites another writer's change: the stale write fails its condition, the change is read, the mutation re-applied", async () => {
  const repo = new JobRepository(dynamo.db, JOBS);
  const job = makeJob({ resourceId: 'tracked-cancelled' });
  await repo.create(job);
  const store = new TrackedJobStore(repo);
  await store.update(job.metadata.id, note('running'));

  // Somebody else (the API recording a cancel) writes after the runner's last write.
  await repo.update(job.metadata.id, (j) => ({
    ...j,
    status: { ...j.status, cancelRequested: { by: 'operator@acmecorp.example', at: new Date().toISOString() } },
  }));
  commands.splice(0);

  let seenCancel: unknown;
  const after = await store.update(job.metadata.id, (j) => {
    seenCancel = j.status.cancelRequested;
    return note('still running')(j);
  });
  expect(commands).toEqual(['UpdateItemCommand', 'GetItemCommand', 'UpdateItemCommand']);
  expect(seenCancel).toMatchObject({ by: 'operator@acmecorp.example' });
  expect(after.status).toMatchObject({ logPrefix: 'still running', cancelRequested: { by: 'operator@acmecorp.example' } });
  expect((await repo.get(job.metadata.id))?.job.status).toMatchObject({ logPrefix: 'still running', cancelRequested: { by: 'operator@acmecorp.example' } });
});

it('reads a job it has not seen, and refuses one that does not exist', async () => {
  const repo = new JobRepository(dynamo.db, JOBS);
  const store = new TrackedJobStore(repo);
  await expect(store.require('sj_01m982bepzrn5rets9npxphzq0')).rejects.toMatchObject({ name: 'NotFoundError' });
  await expect(store.update('sj_01m982bepzrn5rets9npxphzq0', note('x'))).rejects.toMatchObject({ name: 'NotFoundError' });
});
