/**
 * GET /v1/stack-jobs?kind=: the org's jobs of one resource kind, newest first, with full pages and a cursor that
 * resumes right after the last job read, alone and with the other filters. Real repositories on dynalite; every
 * response is checked against docs/openapi.json.
 */
import type { JobPhase, StackJob } from '../../lambdas/domain/schemas';
import { makeJob } from '../support/domain-fixtures';
import { principals, startApiHarness, type ApiHarness } from '../support/api-harness';

let h: ApiHarness;
/** Oldest first, as created. */
const jobs: StackJob[] = [];

function jobOf(kind: string, phase: JobPhase, env = 'production'): StackJob {
  const job = makeJob();
  return {
    ...job,
    metadata: { ...job.metadata, env },
    spec: { ...job.spec, apiResourceInfo: { ...job.spec.apiResourceInfo, kind } },
    status: { ...job.status, phase, ...(phase === 'completed' ? { result: 'succeeded' as const } : {}) },
  };
}

/** Every page of the listing, followed by its cursor. */
async function allPages(query: Record<string, string>): Promise<string[][]> {
  const pages: string[][] = [];
  let cursor: string | undefined;
  do {
    const res = await h.call('GET', '/v1/stack-jobs', { principal: principals.viewer, query: { ...query, ...(cursor ? { cursor } : {}) } });
    expect(res.statusCode).toBe(200);
    pages.push(res.json().items.map((j: StackJob) => j.metadata.id));
    cursor = res.json().cursor;
  } while (cursor);
  return pages;
}

const newestFirst = (keep: (j: StackJob) => boolean) =>
  jobs
    .filter(keep)
    .map((j) => j.metadata.id)
    .reverse();

beforeAll(async () => {
  h = await startApiHarness();
  // Interleaved so a page of one kind must read past the other's jobs.
  const plan: Array<[string, JobPhase, string?]> = [
    ['aws_eks_cluster', 'completed'],
    ['aws_rds_instance', 'completed'],
    ['aws_eks_cluster', 'running'],
    ['aws_eks_cluster', 'queued'],
    ['aws_rds_instance', 'queued', 'staging'],
    ['aws_eks_cluster', 'completed'],
    ['aws_eks_cluster', 'queued'],
    ['aws_rds_instance', 'completed'],
    ['aws_eks_cluster', 'queued', 'staging'],
    ['aws_rds_instance', 'queued'],
  ];
  for (const [kind, phase, env] of plan) {
    const job = jobOf(kind, phase, env);
    expect(await h.jobs.create(job)).toBe(true);
    jobs.push(job);
  }
});
afterAll(() => h.stop());

describe('listing jobs by kind', () => {
  it('lists only the jobs of that kind, newest first, each exactly once across pages', async () => {
    const rds = newestFirst((j) => j.spec.apiResourceInfo.kind === 'aws_rds_instance');
    expect(rds).toHaveLength(4);
    for (const limit of ['1', '2', '3', '100']) {
      const pages = await allPages({ kind: 'aws_rds_instance', limit });
      expect({ limit, ids: pages.flat() }).toEqual({ limit, ids: rds });
    }
  });

  it('gives a cursor only when a next page has a job to show: never an empty last page, filtered or not', async () => {
    // Exactly the jobs there are (a full last page), and a filter whose matches end before the partition does: the
    // oldest job is an eks cluster, so after the last rds job only jobs of the other kind remain.
    const rdsCount = newestFirst((j) => j.spec.apiResourceInfo.kind === 'aws_rds_instance').length;
    expect((await allPages({ kind: 'aws_rds_instance', limit: String(rdsCount) })).map((p) => p.length)).toEqual([rdsCount]);
    expect((await allPages({ kind: 'aws_rds_instance', limit: '2' })).map((p) => p.length)).toEqual([2, 2]);
    expect((await allPages({ limit: String(jobs.length) })).map((p) => p.length)).toEqual([jobs.length]);
    expect((await allPages({ limit: '5' })).map((p) => p.length)).toEqual([5, 5]);
  });

  it('fills every page but the last, reading past the jobs of other kinds', async () => {
    const pages = await allPages({ kind: 'aws_rds_instance', limit: '3' });
    expect(pages.map((p) => p.length)).toEqual([3, 1]);
  });

  it('combines with the phase, env and resource filters', async () => {
    const rdsQueued = newestFirst((j) => j.spec.apiResourceInfo.kind === 'aws_rds_instance' && j.status.phase === 'queued');
    expect((await allPages({ kind: 'aws_rds_instance', phase: 'queued', limit: '1' })).flat()).toEqual(rdsQueued);
    const eksStaging = newestFirst((j) => j.spec.apiResourceInfo.kind === 'aws_eks_cluster' && j.metadata.env === 'staging');
    expect((await allPages({ kind: 'aws_eks_cluster', env: 'staging' })).flat()).toEqual(eksStaging);
    const eksOfStack = newestFirst((j) => j.spec.apiResourceInfo.kind === 'aws_eks_cluster' && j.metadata.env === 'production');
    expect((await allPages({ kind: 'aws_eks_cluster', env: 'production', resourceId: jobs[0].metadata.name, limit: '2' })).flat()).toEqual(eksOfStack);
  });

  it('answers an empty last page for a kind the org has no job of', async () => {
    const res = await h.call('GET', '/v1/stack-jobs', { principal: principals.viewer, query: { kind: 'aws_s3_bucket', limit: '2' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ items: [] });
  });

  it('refuses an empty kind (400 naming it)', async () => {
    const res = await h.call('GET', '/v1/stack-jobs', { principal: principals.viewer, query: { kind: '' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors.map((e: { path: string }) => e.path)).toEqual(['query.kind']);
  });
});
