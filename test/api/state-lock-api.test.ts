/**
 * GET …/state-lock and POST …/state-lock/force-unlock through the API handler: real repositories on dynalite, the real
 * lock probe over a mocked S3 holding a `<key>.tflock`, every response checked against docs/openapi.json.
 */
import { DeleteObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { checkedDetail } from '../../lambdas/domain/events';
import type { StackJob } from '../../lambdas/domain/schemas';
import { awsCredential, change, NOW, platformEksModule, s3Backend } from '../support/domain-fixtures';
import { principals, startApiHarness, type ApiHarness } from '../support/api-harness';

const RESOURCE = 'eks_01jq5xe4z7farkgenqsh47c1h0';
const BASE = `/v1/orgs/acmecorp/envs/production/resources/${RESOURCE}/state-lock`;
const STATE_KEY = `stack-jobs/acmecorp/production/${RESOURCE}/terraform.tfstate`;
const LOCK_ID = '6bd26e7e-67b0-f501-5a22-e81445f6d3c8';
const LOCK_INFO = JSON.stringify({
  ID: LOCK_ID,
  Operation: 'OperationTypeApply',
  Info: '',
  Who: 'stackjobs-tool@ip-10-0-1-7',
  Version: '1.11.4',
  Created: '2026-11-27T11:02:13.551034117Z',
  Path: `acmecorp-terraform-state/${STATE_KEY}`,
});

let h: ApiHarness;
let job: StackJob;

/** The `.tflock` object a killed terraform left in the state bucket. */
function leaveLock() {
  h.s3
    .on(GetObjectCommand, { Bucket: 'acmecorp-terraform-state', Key: `${STATE_KEY}.tflock` })
    .resolves({ Body: { transformToString: async () => LOCK_INFO } as never, ETag: '"e1"' });
  h.s3.on(DeleteObjectCommand).resolves({});
}
const deletes = () => h.s3.commandCalls(DeleteObjectCommand).length;

beforeAll(async () => {
  h = await startApiHarness();
  h.secrets.values['stackjobs/acmecorp/awscred_prod_account'] = JSON.stringify({ accessKeyId: 'AKIAEXAMPLEKEY000001', secretAccessKey: 'example-secret' });
  expect(
    (await h.call('PUT', '/v1/orgs/acmecorp/provider-credentials/awscred_prod_account', { principal: principals.admin, body: awsCredential() })).statusCode,
  ).toBe(201);
  expect(
    (await h.call('PUT', '/v1/orgs/acmecorp/backend-credentials/tfcred_s3_backend_prod', { principal: principals.admin, body: s3Backend() })).statusCode,
  ).toBe(201);
  expect(
    (await h.call('PUT', '/v1/platform/modules/iacmod_platform_eks_terraform', { principal: principals.platformAdmin, body: platformEksModule() })).statusCode,
  ).toBe(201);
  const res = await h.call('POST', '/v1/stack-jobs', { body: change() });
  expect(res.statusCode).toBe(201);
  job = res.json();
});
afterAll(() => h.stop());
beforeEach(() => {
  h.resetMocks();
  h.publisher.events.length = 0;
});

describe('GET …/state-lock', () => {
  it("shows Terraform's lock on the stack's state to any role in the org", async () => {
    leaveLock();
    const res = await h.call('GET', BASE, { principal: principals.viewer });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      org: 'acmecorp',
      env: 'production',
      resourceId: RESOURCE,
      stateKey: STATE_KEY,
      backend: { id: 'tfcred_s3_backend_prod', type: 's3' },
      lock: {
        id: LOCK_ID,
        operation: 'OperationTypeApply',
        who: 'stackjobs-tool@ip-10-0-1-7',
        created: '2026-11-27T11:02:13.551034117Z',
        path: `acmecorp-terraform-state/${STATE_KEY}`,
        store: 's3-object',
        held: true,
      },
    });
  });

  it('answers 502 saying what the state backend refused (here: no grant on the bucket for a backend without a secret)', async () => {
    h.s3.on(GetObjectCommand).rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }));
    const res = await h.call('GET', BASE, { principal: principals.viewer });
    expect(res.statusCode).toBe(502);
    expect(res.json().detail).toBe(
      `Terraform's lock (object acmecorp-terraform-state/${STATE_KEY}.tflock) could not be read or removed: access denied (AccessDenied); without a backend secret the bucket must be in stackjobs:stateBucketNames`,
    );
  });

  it('answers 404 when there is no lock, and to another org', async () => {
    expect((await h.call('GET', BASE, { principal: principals.viewer })).statusCode).toBe(404);
    leaveLock();
    expect((await h.call('GET', BASE, { principal: principals.globexOperator })).statusCode).toBe(404);
  });
});

describe('POST …/state-lock/force-unlock', () => {
  const body = { lockId: LOCK_ID, reason: 'runner sj_x was OOM-killed mid-plan; nothing else runs on this state' };

  it('refuses a non-admin with 403, and releases nothing', async () => {
    leaveLock();
    const res = await h.call('POST', `${BASE}/force-unlock`, { principal: principals.operator, body });
    expect(res.statusCode).toBe(403);
    expect(res.json().detail).toContain('admin');
    expect(deletes()).toBe(0);
    expect(h.publisher.events).toEqual([]);
  });

  it("refuses another org's admin as if the resource did not exist (404), and releases nothing", async () => {
    leaveLock();
    const res = await h.call('POST', `${BASE}/force-unlock`, { principal: principals.globexOperator, body });
    expect(res.statusCode).toBe(404);
    expect(deletes()).toBe(0);
  });

  it('answers a bad body with a 400 problem naming every field, and releases nothing', async () => {
    leaveLock();
    const res = await h.call('POST', `${BASE}/force-unlock`, { principal: principals.admin, body: { lockId: '', reason: '   ', force: true } });
    expect(res.statusCode).toBe(400);
    expect(res.headers?.['content-type']).toBe('application/problem+json');
    expect(
      res
        .json()
        .errors.map((e: { path: string }) => e.path)
        .sort(),
    ).toEqual(['(body)', 'lockId', 'reason']);
    expect((await h.call('POST', `${BASE}/force-unlock`, { principal: principals.admin })).statusCode).toBe(400);
    expect(deletes()).toBe(0);
  });

  it('refuses with 409 while a stack job holds the stack, naming the job to cancel instead', async () => {
    leaveLock();
    const stackKey = `acmecorp/production/${RESOURCE}`;
    const acquired = await h.locks.tryAcquire(stackKey, job.metadata.id, new Date(NOW.getTime() + 3600_000));
    expect(acquired.acquired).toBe(true);
    try {
      const res = await h.call('POST', `${BASE}/force-unlock`, { principal: principals.admin, body });
      expect(res.statusCode).toBe(409);
      expect(res.json().detail).toContain(`POST /v1/stack-jobs/${job.metadata.id}/cancel`);
      expect(deletes()).toBe(0);
    } finally {
      await h.locks.release(stackKey, job.metadata.id);
    }
  });

  it("refuses a lock id that is not the lock's with 409, and releases it with its own, recording who and why", async () => {
    leaveLock();
    const wrong = await h.call('POST', `${BASE}/force-unlock`, { principal: principals.admin, body: { ...body, lockId: 'not-the-lock-id' } });
    expect(wrong.statusCode).toBe(409);
    expect(wrong.json().detail).toContain(`lock id not-the-lock-id does not match the lock on the state: OperationTypeApply by stackjobs-tool@ip-10-0-1-7`);
    expect(deletes()).toBe(0);

    const res = await h.call('POST', `${BASE}/force-unlock`, { principal: principals.admin, body });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ lock: { id: LOCK_ID }, released: { by: principals.admin.subject, at: NOW.toISOString(), reason: body.reason } });
    expect(h.s3.commandCalls(DeleteObjectCommand).map((c) => c.args[0].input)).toEqual([
      { Bucket: 'acmecorp-terraform-state', Key: `${STATE_KEY}.tflock`, IfMatch: '"e1"' },
    ]);
    expect(h.publisher.events).toEqual([
      {
        detailType: 'Stack Terraform Lock Released',
        detail: {
          org: 'acmecorp',
          env: 'production',
          resourceId: RESOURCE,
          stateKey: STATE_KEY,
          lockId: LOCK_ID,
          lockWho: 'stackjobs-tool@ip-10-0-1-7',
          lockOperation: 'OperationTypeApply',
          lockCreated: '2026-11-27T11:02:13.551034117Z',
          by: principals.admin.subject,
          reason: body.reason,
        },
      },
    ]);
    // The shape the bus's registry declares for it (what the deployed publisher checks before sending).
    expect(() => checkedDetail('Stack Terraform Lock Released', h.publisher.events[0].detail as never)).not.toThrow();
  });

  it('answers 404 when there is no lock to release', async () => {
    const res = await h.call('POST', `${BASE}/force-unlock`, { principal: principals.admin, body });
    expect(res.statusCode).toBe(404);
    expect(h.publisher.events).toEqual([]);
  });
});
