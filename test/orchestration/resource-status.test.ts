/** The resource status item: a change's outcome and the drift its refresh (or a drift check) found, on dynalite. */
import { ResourceStatusRepository, type ResourceDrift } from '../../lambdas/adapters/dynamodb/resource-status-repository';
import { JOBS, startDynamo, type TestDynamo } from './support/dynamo';

let dynamo: TestDynamo;
let repo: ResourceStatusRepository;
beforeAll(async () => {
  dynamo = await startDynamo();
  repo = new ResourceStatusRepository(dynamo.db, JOBS);
});
afterAll(() => dynamo.stop());

const drift = (jobId: string, total: number): ResourceDrift => ({
  checkedAt: '2026-12-07T06:00:00.000Z',
  jobId,
  drifted: total > 0,
  total,
  resources: total ? [{ address: 'standin_value.size', actions: ['update'] }] : [],
});
const outcome = (jobId: string) => ({
  org: 'acmecorp',
  env: 'dev',
  resourceId: 'res-1',
  kind: 'demo_bucket',
  jobId,
  result: 'succeeded' as const,
  finishedAt: '2026-12-07T06:00:00.000Z',
  applied: { versionId: 'v1', outputsKey: `jobs/${jobId}/outputs.json` },
});

describe('the resource status', () => {
  it("keeps a change's outcome and, beside it, the newest drift: an older job's drift never replaces a newer one's", async () => {
    expect(await repo.recordDrift('acmecorp', 'dev', 'res-1', drift('sj_0002', 0))).toBe(true);
    expect(await repo.record(outcome('sj_0002'))).toBe(true);
    expect(await repo.recordDrift('acmecorp', 'dev', 'res-1', drift('sj_0003', 1))).toBe(true);
    expect(await repo.recordDrift('acmecorp', 'dev', 'res-1', drift('sj_0001', 0))).toBe(false);
    expect(await repo.get('acmecorp', 'dev', 'res-1')).toEqual(
      expect.objectContaining({ lastJobId: 'sj_0002', lastAppliedJobId: 'sj_0002', versionApplied: 'v1', drift: drift('sj_0003', 1) }),
    );
  });
});
