import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EventBridgeEvent } from 'aws-lambda';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { handleResourceChanged, JOB_REJECTED } from '../../lambdas/events/resource-changed';
import type { EventPublisher } from '../../lambdas/domain/ports';
import { awsCredential, change, platformEksModule, s3Backend } from '../support/domain-fixtures';
import { startApiHarness, type ApiHarness } from '../support/api-harness';
import { PLATFORM_OWNER } from '../../lambdas/domain/ports';

const base = JSON.parse(readFileSync(join(__dirname, '../fixtures/aws-events/eventbridge-base.json'), 'utf8')) as EventBridgeEvent<string, unknown>;
const eventOf = (detail: unknown, detailType = 'Cloud Resource Changed'): EventBridgeEvent<string, unknown> => ({
  ...base,
  source: 'acme.portal',
  'detail-type': detailType,
  detail,
});

class RecordingPublisher implements EventPublisher {
  readonly published: { detailType: string; detail: Record<string, unknown> }[] = [];
  async publish(detailType: string, detail: Record<string, unknown>) {
    this.published.push({ detailType, detail });
  }
}

let h: ApiHarness;
let publisher: RecordingPublisher;
const deps = () => ({ submission: h.submission, publisher, logger: new Logger({ logLevel: 'SILENT' }), metrics: new Metrics({ namespace: 'T' }) });

beforeAll(async () => {
  h = await startApiHarness();
  h.secrets.values['stackjobs/acmecorp/awscred_prod_account'] = JSON.stringify({ accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'example' });
  await h.catalog.put('provider-credentials', 'acmecorp', 'awscred_prod_account', awsCredential(), 'test', new Date());
  await h.catalog.put('backend-credentials', 'acmecorp', 'tfcred_s3_backend_prod', s3Backend(), 'test', new Date());
  await h.catalog.put('modules', PLATFORM_OWNER, 'iacmod_platform_eks_terraform', platformEksModule(), 'test', new Date());
});
afterAll(() => h.stop());
beforeEach(() => {
  h.resetMocks();
  publisher = new RecordingPublisher();
});

describe('Cloud Resource Changed events', () => {
  it('submit a job through the same use case as the API, once however often delivered', async () => {
    const event = eventOf(change({ resource: { version: { id: 'ver-event-1', message: 'from the portal' } } }));
    const first = await handleResourceChanged(event, deps());
    const again = await handleResourceChanged(event, deps());
    expect(first).toMatchObject({ outcome: 'created' });
    expect(again).toEqual({ outcome: 'duplicate', jobId: (first as { jobId: string }).jobId });
    const job = await h.jobs.get((first as { jobId: string }).jobId);
    expect(job?.job.metadata.version.message).toBe('from the portal');
    expect(publisher.published).toEqual([]);
  });

  it('publish a different change under a version already submitted as Stack Job Rejected (version_conflict), without throwing or a second job', async () => {
    const first = await handleResourceChanged(eventOf(change({ resource: { version: { id: 'ver-event-edit', message: 'v' } } })), deps());
    expect(first).toMatchObject({ outcome: 'created' });
    const edited = await handleResourceChanged(
      eventOf(change({ resource: { version: { id: 'ver-event-edit', message: 'v' } }, spec: { nodeGroup: { desiredSize: 9 } } })),
      deps(),
    );
    expect(edited).toEqual({ outcome: 'rejected' });
    expect(publisher.published).toEqual([
      {
        detailType: JOB_REJECTED,
        detail: expect.objectContaining({
          reason: 'version_conflict',
          versionId: 'ver-event-edit',
          errors: [{ path: 'detail', message: expect.stringContaining('with a different spec: a changed resource needs a new version id') }],
        }),
      },
    ]);
  });

  it('record the producing source as the submitter (metadata.submittedBy), whatever detail.createdBy says', async () => {
    const event = eventOf(change({ resource: { version: { id: 'ver-event-submitter', message: 'from the portal' } }, createdBy: 'approver@acmecorp.example' }));
    const created = (await handleResourceChanged(event, deps())) as { jobId: string };
    const job = (await h.jobs.get(created.jobId))!.job;
    expect(job.metadata.submittedBy).toBe('eventbridge:acme.portal');
    expect(job.spec.apiResourceInfo.eventCreatedBy).toBe('approver@acmecorp.example');
  });

  it('publish a pre-flight failure as Stack Job Rejected with every check, without throwing', async () => {
    const result = await handleResourceChanged(
      eventOf(change({ kind: 'aws_lambda_function', resource: { version: { id: 'ver-event-2', message: '' } } })),
      deps(),
    );
    expect(result).toEqual({ outcome: 'rejected' });
    expect(publisher.published).toHaveLength(1);
    const [{ detailType, detail }] = publisher.published;
    expect(detailType).toBe(JOB_REJECTED);
    expect(detail).toMatchObject({ reason: 'preflight_failed', org: 'acmecorp', versionId: 'ver-event-2' });
    expect((detail.checks as { check: string; passed: boolean }[]).map((c) => [c.check, c.passed])).toEqual([
      ['credential', false],
      ['module', false],
      ['backend', true],
      ['flowControl', true],
    ]);
  });

  it('publish an invalid detail as rejected with each field named', async () => {
    const result = await handleResourceChanged(eventOf({ resource: { id: 'x' }, kind: 'k' }), deps());
    expect(result).toEqual({ outcome: 'rejected' });
    const paths = (publisher.published[0].detail.errors as { path: string }[]).map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['detail.resource.name', 'detail.triggerEvent', 'detail.createdBy']));
  });

  it('ignore events of another detail type', async () => {
    expect(await handleResourceChanged(base, deps())).toEqual({ outcome: 'ignored' });
    expect(publisher.published).toEqual([]);
  });

  it('throw on a transient infrastructure error so EventBridge retries, writing no job', async () => {
    h.s3.on(HeadBucketCommand).rejects(Object.assign(new Error('Service Unavailable'), { name: 'ServiceUnavailable', $metadata: { httpStatusCode: 503 } }));
    const event = eventOf(change({ resource: { version: { id: 'ver-event-3', message: '' } } }));
    await expect(handleResourceChanged(event, deps())).rejects.toThrow('Service Unavailable');
    const jobs = await h.jobs.list({ org: 'acmecorp', limit: 100 });
    expect(jobs.items.some((j) => j.metadata.version.id === 'ver-event-3')).toBe(false);
    h.resetMocks();
    expect(await handleResourceChanged(event, deps())).toMatchObject({ outcome: 'created' });
  });
});
