/** The stack lock against dynalite: mutual exclusion, re-entrance, expiry takeover and fencing. */
import { LockRepository } from '../../lambdas/adapters/dynamodb/lock-repository';
import { JOBS, startDynamo, type TestDynamo } from './support/dynamo';

let dynamo: TestDynamo;
let stackSeq = 0;
const freshStack = () => `acmecorp/production/res-${++stackSeq}`;
const inAnHour = () => new Date(Date.now() + 3600_000);

beforeAll(async () => {
  dynamo = await startDynamo();
});
afterAll(async () => {
  await dynamo.stop();
});

describe('LockRepository', () => {
  it('gives a free stack to the first job and refuses a second one while the lease is live', async () => {
    const locks = new LockRepository(dynamo.db, JOBS);
    const stack = freshStack();
    const a = await locks.tryAcquire(stack, 'sj_a', inAnHour());
    const b = await locks.tryAcquire(stack, 'sj_b', inAnHour());
    expect(a).toEqual({ acquired: true, lease: expect.objectContaining({ ownerJobId: 'sj_a', fencingToken: 1 }) });
    expect(b).toEqual({ acquired: false, holder: expect.objectContaining({ ownerJobId: 'sj_a' }) });
    expect(await locks.getLease(stack)).toEqual(expect.objectContaining({ ownerJobId: 'sj_a', fencingToken: 1 }));
  });

  it('lets exactly one of many concurrent acquirers win', async () => {
    const locks = new LockRepository(dynamo.db, JOBS);
    const stack = freshStack();
    const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => locks.tryAcquire(stack, `sj_${i}`, inAnHour())));
    const winners = outcomes.filter((o) => o.acquired);
    expect(winners).toHaveLength(1);
    expect((await locks.getLease(stack))?.ownerJobId).toBe((winners[0] as { lease: { ownerJobId: string } }).lease.ownerJobId);
  });

  it('is re-entrant for its owner, so a retried acquire step does not lock itself out', async () => {
    const locks = new LockRepository(dynamo.db, JOBS);
    const stack = freshStack();
    await locks.tryAcquire(stack, 'sj_a', inAnHour());
    expect(await locks.tryAcquire(stack, 'sj_a', inAnHour())).toEqual({ acquired: true, lease: expect.objectContaining({ fencingToken: 1 }) });
  });

  it('hands an expired lease to the next job with a higher fencing token', async () => {
    let now = new Date();
    const locks = new LockRepository(dynamo.db, JOBS, () => now);
    const stack = freshStack();
    await locks.tryAcquire(stack, 'sj_a', new Date(now.getTime() + 1000));
    now = new Date(now.getTime() + 2000);
    expect(await locks.getLease(stack)).toBeUndefined();
    const b = await locks.tryAcquire(stack, 'sj_b', new Date(now.getTime() + 3600_000));
    expect(b).toEqual({ acquired: true, lease: expect.objectContaining({ ownerJobId: 'sj_b', fencingToken: 2 }) });
  });

  it('never lets a stale holder release the lease its successor now holds (fencing)', async () => {
    let now = new Date();
    const locks = new LockRepository(dynamo.db, JOBS, () => now);
    const stack = freshStack();
    await locks.tryAcquire(stack, 'sj_a', new Date(now.getTime() + 1000));
    now = new Date(now.getTime() + 2000);
    await locks.tryAcquire(stack, 'sj_b', new Date(now.getTime() + 3600_000));
    expect(await locks.release(stack, 'sj_a')).toBe(false);
    expect(await locks.release(stack, 'sj_b', 1)).toBe(false); // right owner, stale token
    expect(await locks.getLease(stack)).toEqual(expect.objectContaining({ ownerJobId: 'sj_b', fencingToken: 2 }));
    expect(await locks.release(stack, 'sj_b', 2)).toBe(true);
    expect(await locks.getLease(stack)).toBeUndefined();
  });

  it('keeps the fencing counter growing across release and re-acquire', async () => {
    const locks = new LockRepository(dynamo.db, JOBS);
    const stack = freshStack();
    await locks.tryAcquire(stack, 'sj_a', inAnHour());
    expect(await locks.release(stack, 'sj_a')).toBe(true);
    expect(await locks.release(stack, 'sj_a')).toBe(false); // a retried release is a no-op
    const b = await locks.tryAcquire(stack, 'sj_b', inAnHour());
    expect(b).toEqual({ acquired: true, lease: expect.objectContaining({ ownerJobId: 'sj_b', fencingToken: 2 }) });
  });
});
