/**
 * Drift checks end to end through local mode: the API route, the synthesized state machine, the runner bundle and the
 * stand-in CLI, whose drift mode (`<state file>.drift.json` is "the real world") reports resource_drift from a
 * refresh-only plan and would persist it only through a refresh-only apply — so a check that wrote state is caught.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StackJob } from '../../lambdas/domain/schemas';
import { bucketChange, e2eConfig, endJobsAwaitingApproval, startE2E, TOKENS, type E2E } from '../support/e2e-harness';

/** An approver under the production policy who may also submit (operator): the one whose own change comes back. */
const LEAD = { token: 'local-approver2-token', subject: 'approver2@acmecorp.example' };

let e: E2E;
beforeAll(async () => {
  const config = e2eConfig();
  const lead = config.principals.find((p) => p.subject === LEAD.subject)!;
  lead.roles = [...lead.roles, 'operator'];
  e = await startE2E(config);
}, 90000);
afterAll(async () => {
  // A job left awaiting approval (a failed assertion) keeps the in-process interpreter, and so this process, alive.
  await endJobsAwaitingApproval(e);
  await e?.stop();
});

const done = (j: StackJob) => j.status.phase === 'completed';
const submit = async (change: unknown) => {
  const res = await e.call<StackJob>('POST', '/v1/stack-jobs', { body: change });
  if (res.status !== 201) throw new Error(`submission answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
};
const checkPath = (resourceId: string, env = 'dev') => `/v1/orgs/acmecorp/envs/${env}/resources/${resourceId}/drift-checks`;
const startCheck = async (resourceId: string, env = 'dev') => {
  const res = await e.call<StackJob>('POST', checkPath(resourceId, env));
  if (res.status !== 202) throw new Error(`drift check answered ${res.status}: ${JSON.stringify(res.body)}`);
  expect(res.headers.get('location')).toBe(`/v1/stack-jobs/${res.body.metadata.id}`);
  return res.body;
};
interface ResourceView {
  lastJobId: string;
  lastAppliedJobId?: string;
  versionApplied: string;
  drift?: { checkedAt: string; jobId: string; drifted: boolean; total: number; resources: Array<{ address: string; actions: string[] }> };
}
const resourceOf = async (resourceId: string, env = 'dev') => (await e.call<ResourceView>('GET', `/v1/orgs/acmecorp/envs/${env}/resources/${resourceId}`)).body;
/** The resource's status once the job's ending has written it (it is written right after the job's ending). */
const resourceAfter = async (resourceId: string, jobId: string, env = 'dev') => {
  for (let i = 0; i < 100; i++) {
    const r = await resourceOf(resourceId, env);
    if (r.drift?.jobId === jobId) return r;
    await new Promise((res) => setTimeout(res, 50));
  }
  return resourceOf(resourceId, env);
};
const eventsOf = (jobId: string) => e.local.events.filter((ev) => (ev.detail as { jobId?: string }).jobId === jobId);

/** The resource's state file, where the example config's local backend keeps it. */
function stateFile(resourceId: string, env = 'dev'): string {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith(`/acmecorp/${env}/${resourceId}/terraform.tfstate`)) found.push(p);
    }
  };
  if (existsSync(e.local.dataDir)) walk(e.local.dataDir);
  if (found.length !== 1) throw new Error(`expected one state file for ${resourceId}, found ${found.length}`);
  return found[0];
}

async function applied(resourceId: string, env = 'dev', spec: Record<string, unknown> = { tier: 'standard', size: 1 }): Promise<StackJob> {
  const job = await submit(bucketChange(resourceId, 'v1', { env, spec }));
  if (env === 'production') {
    await e.waitFor(job.metadata.id, (j) => j.status.phase === 'awaiting_approval');
    expect((await e.call('POST', `/v1/stack-jobs/${job.metadata.id}/approve`, { token: TOKENS.approver, body: {} })).status).toBe(200);
  }
  const finished = await e.waitFor(job.metadata.id, done);
  expect(finished.status.result).toBe('succeeded');
  // The resource status is written right after the job's ending.
  for (let i = 0; i < 100 && (await resourceOf(resourceId, env)).lastAppliedJobId !== job.metadata.id; i++) await new Promise((r) => setTimeout(r, 50));
  return finished;
}

describe('a drift check on demand', () => {
  it('reports what changed outside Stack Jobs on the job and the resource, asks no approval, applies nothing and leaves the state untouched', async () => {
    const change = await applied('drift_found', 'production');
    const state = stateFile('drift_found', 'production');
    // Someone changed `size` by hand and deleted `tier`.
    writeFileSync(`${state}.drift.json`, JSON.stringify({ 'standin_value.size': 7, 'standin_value.tier': null }));
    const before = readFileSync(state);

    const check = await startCheck('drift_found', 'production');
    expect(check.spec.operations).toEqual(['init', 'refresh']);
    expect(check.spec.driftCheck).toEqual({ remediate: 'none', basedOn: change.metadata.id });
    const finished = await e.waitFor(check.metadata.id, done);
    expect(finished.status).toMatchObject({ phase: 'completed', result: 'succeeded', reason: 'drift_checked' });
    expect(finished.status.operations.map((o) => `${o.name}:${o.result}`)).toEqual(['init:succeeded', 'refresh:succeeded']);
    expect(finished.status.approval).toBeUndefined();
    expect(eventsOf(check.metadata.id).some((ev) => (ev.detail as { phase?: string }).phase === 'awaiting_approval')).toBe(false);
    expect(readFileSync(state).equals(before)).toBe(true);

    const expected = [
      { address: 'standin_value.size', actions: ['update'] },
      { address: 'standin_value.tier', actions: ['delete'] },
    ];
    expect(finished.status.drift).toMatchObject({ total: 2, resources: expected });
    const resource = await resourceAfter('drift_found', check.metadata.id, 'production');
    expect(resource.drift).toEqual({ checkedAt: finished.status.drift!.checkedAt, jobId: check.metadata.id, drifted: true, total: 2, resources: expected });
    // Attribute by attribute, as in a plan: what each drifted resource was and is now.
    const changes = await e.call<{
      jobId: string;
      total: number;
      drift: Array<{ address: string; attributes: Array<{ path: string; before?: unknown; after?: unknown }> }>;
    }>('GET', `/v1/stack-jobs/${check.metadata.id}/drift/changes`);
    expect(changes.status).toBe(200);
    expect(changes.body).toMatchObject({ jobId: check.metadata.id, total: 2 });
    expect(changes.body.drift.map((d) => d.address)).toEqual(['standin_value.size', 'standin_value.tier']);
    const size = changes.body.drift[0].attributes;
    expect(size.length).toBeGreaterThan(0);
    expect(JSON.stringify(size)).toContain('1');
    expect(JSON.stringify(size)).toContain('7');
    // The check changes nothing but the drift: the last job and the version applied are still the change's.
    expect(resource).toMatchObject({ lastJobId: change.metadata.id, versionApplied: 'v1' });
    const drifted = eventsOf(check.metadata.id).filter((ev) => ev.detailType === 'Stack Drift Detected');
    expect(drifted.map((ev) => ev.detail)).toEqual([
      expect.objectContaining({ org: 'acmecorp', env: 'production', resourceId: 'drift_found', total: 2, resources: expected, remediate: 'none' }),
    ]);
  });

  it('reports drifted: false on a resource nobody touched, and publishes no drift event', async () => {
    await applied('drift_clean');
    const check = await startCheck('drift_clean');
    const finished = await e.waitFor(check.metadata.id, done);
    expect(finished.status.reason).toBe('drift_checked');
    expect((await resourceAfter('drift_clean', check.metadata.id)).drift).toEqual({
      checkedAt: expect.any(String),
      jobId: check.metadata.id,
      drifted: false,
      total: 0,
      resources: [],
    });
    expect(eventsOf(check.metadata.id).filter((ev) => ev.detailType === 'Stack Drift Detected')).toEqual([]);
  });

  it("records the drift a change's own plan found, without a refresh of its own, and shows it attribute by attribute from the plan", async () => {
    await applied('drift_in_change');
    const state = stateFile('drift_in_change');
    writeFileSync(`${state}.drift.json`, JSON.stringify({ 'standin_value.size': 9 }));
    const change = await submit(bucketChange('drift_in_change', 'v2', { env: 'dev', spec: { tier: 'premium', size: 1 }, trigger: 'updated' }));
    // The plan refreshes and lists what it found: reading the provider twice (a refresh-only plan first) is not needed.
    expect(change.spec.operations).toEqual(['init', 'plan', 'apply']);
    const finished = await e.waitFor(change.metadata.id, done);
    expect(finished.status.result).toBe('succeeded');
    const expected = [{ address: 'standin_value.size', actions: ['update'] }];
    expect(finished.status.drift).toMatchObject({ total: 1, resources: expected });
    const resource = await resourceAfter('drift_in_change', change.metadata.id);
    expect(resource.drift).toMatchObject({ jobId: change.metadata.id, drifted: true, total: 1, resources: expected });
    const changes = await e.call<{ total: number; drift: Array<{ address: string; attributes: Array<{ path: string; before?: unknown; after?: unknown }> }> }>(
      'GET',
      `/v1/stack-jobs/${change.metadata.id}/drift/changes`,
    );
    expect(changes.status).toBe(200);
    expect(changes.body.total).toBe(1);
    expect(changes.body.drift.map((d) => d.address)).toEqual(['standin_value.size']);
    expect(JSON.stringify(changes.body.drift[0].attributes)).toContain('9');
  });

  it('never runs ahead of a change submitted before it: it waits behind the change that holds the stack', async () => {
    await applied('drift_queued', 'production');
    const next = await submit(bucketChange('drift_queued', 'v2', { env: 'production', spec: { tier: 'premium', size: 1 }, trigger: 'updated' }));
    await e.waitFor(next.metadata.id, (j) => j.status.phase === 'awaiting_approval');
    const check = await startCheck('drift_queued', 'production');
    const waiting = await e.waitFor(check.metadata.id, (j) => j.status.queuePosition === 1);
    expect(waiting.status.phase).toBe('queued');
    expect((await e.call('POST', `/v1/stack-jobs/${next.metadata.id}/approve`, { token: TOKENS.approver, body: {} })).status).toBe(200);
    const change = await e.waitFor(next.metadata.id, done);
    const finished = await e.waitFor(check.metadata.id, done);
    expect(finished.status.reason).toBe('drift_checked');
    expect(Date.parse(finished.status.startedAt!)).toBeGreaterThanOrEqual(Date.parse(change.status.finishedAt!));
  });

  it('is refused for a resource never applied (404), to a caller without operator or admin (403) and across orgs (404), with nothing written', async () => {
    const count = async () => (await e.call<{ items: StackJob[] }>('GET', '/v1/stack-jobs', { query: { org: 'acmecorp', limit: '100' } })).body.items.length;
    const before = await count();
    expect((await e.call('POST', checkPath('never_applied'))).status).toBe(404);
    // The approver token holds approver and viewer: neither starts jobs.
    expect((await e.call('POST', checkPath('drift_clean'), { token: TOKENS.approver })).status).toBe(403);
    expect((await e.call('POST', checkPath('drift_clean'), { token: TOKENS.globex })).status).toBe(404);
    expect(await count()).toBe(before);
  });

  it("carries the submitters of the change it checks: a rerun of the check does not let the change's submitter approve their change again", async () => {
    // The lead submits the change (an approver approves it); an operator checks it, and reruns the check: a change job
    // for the applied version, which pauses for approval in production.
    const submitted = await e.call<StackJob>('POST', '/v1/stack-jobs', {
      token: LEAD.token,
      body: bucketChange('drift_rerun_lead', 'v1', { env: 'production', spec: { tier: 'standard', size: 1 } }),
    });
    expect(submitted.status).toBe(201);
    const base = submitted.body;
    await e.waitFor(base.metadata.id, (j) => j.status.phase === 'awaiting_approval');
    expect((await e.call('POST', `/v1/stack-jobs/${base.metadata.id}/approve`, { token: TOKENS.approver, body: {} })).status).toBe(200);
    expect((await e.waitFor(base.metadata.id, done)).status.result).toBe('succeeded');
    for (let i = 0; i < 100 && (await resourceOf('drift_rerun_lead', 'production')).lastAppliedJobId !== base.metadata.id; i++)
      await new Promise((r) => setTimeout(r, 50));
    // Changed outside Stack Jobs: the rerun has something to bring back, so it plans changes and asks for approval.
    writeFileSync(`${stateFile('drift_rerun_lead', 'production')}.drift.json`, JSON.stringify({ 'standin_value.size': 7 }));
    const check = await startCheck('drift_rerun_lead', 'production');
    expect(check.metadata.submitters).toEqual([LEAD.subject, 'dev@acmecorp.example']);
    await e.waitFor(check.metadata.id, done);
    const rerun = await e.call<StackJob>('POST', `/v1/stack-jobs/${check.metadata.id}/rerun`, { body: {} });
    expect(rerun.status).toBe(201);
    expect(rerun.body.metadata.submitters).toEqual([LEAD.subject, 'dev@acmecorp.example']);
    const id = rerun.body.metadata.id;
    await e.waitFor(id, (j) => j.status.phase === 'awaiting_approval');
    const byLead = await e.call<{ detail: string }>('POST', `/v1/stack-jobs/${id}/approve`, { token: LEAD.token, body: {} });
    expect([byLead.status, byLead.body.detail]).toEqual([403, expect.stringContaining('submitted an earlier run of this change')]);
    expect((await e.call('POST', `/v1/stack-jobs/${id}/approve`, { token: TOKENS.approver, body: {} })).status).toBe(200);
    expect((await e.waitFor(id, done)).status.result).toBe('succeeded');
  });
});
