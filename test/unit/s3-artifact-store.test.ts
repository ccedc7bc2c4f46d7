/** The artifact store against s3rver on a loopback port: what the API reads back of what the runner wrote. */
import { rmSync } from 'node:fs';
import { S3Client } from '@aws-sdk/client-s3';
import { artifactKeys, compareLogKeys } from '../../lambdas/adapters/s3/artifact-keys';
import { ArtifactStore, MASK } from '../../lambdas/adapters/s3/artifact-store';
import { ValidationError } from '../../lambdas/domain/errors';
import { LOCAL_CREDENTIALS } from '../../local/embedded-dynamo';
import { startEmbeddedS3, type EmbeddedS3 } from '../../local/embedded-s3';

const BUCKET = 'artifacts';
const JOB = 'sj_01jsrnmwpnnc6n62h06xafcgxv';
let s3server: EmbeddedS3;
let client: S3Client;
let store: ArtifactStore;

beforeAll(async () => {
  s3server = await startEmbeddedS3({ buckets: [BUCKET] });
  client = new S3Client({ endpoint: s3server.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS, forcePathStyle: true });
  store = new ArtifactStore(client, BUCKET, { presignSeconds: 60, now: () => new Date('2025-01-01T00:00:00Z') });
});

afterAll(async () => {
  client.destroy();
  await s3server.stop();
  rmSync(s3server.directory, { recursive: true, force: true });
});

describe('ArtifactStore.readLogs', () => {
  const job = `${JOB.slice(0, -1)}a`;

  beforeAll(async () => {
    // Written out of execution order on purpose: "plan" sorts before "refresh" alphabetically.
    await store.putLogChunk(job, 'update', 'apply', 1, Buffer.from('apply-1\n'));
    await store.putLogChunk(job, 'preview', 'plan', 1, Buffer.from('plan-1\n'));
    await store.putLogChunk(job, 'preview', 'refresh', 1, Buffer.from('refresh-1\n'));
    await store.putLogChunk(job, 'preview', 'init', 2, Buffer.from('init-2\n'));
    await store.putLogChunk(job, 'preview', 'init', 1, Buffer.from('init-1\n'));
  });

  it('returns the whole job log in execution order: phase, then operation, then sequence', async () => {
    const page = await store.readLogs(job);
    expect(page.text).toBe('init-1\ninit-2\nrefresh-1\nplan-1\napply-1\n');
    expect(page.chunks).toBe(5);
  });

  it('filters by phase and operation', async () => {
    expect((await store.readLogs(job, { phase: 'preview', operation: 'init' })).text).toBe('init-1\ninit-2\n');
    expect((await store.readLogs(job, { phase: 'update' })).text).toBe('apply-1\n');
  });

  it('follows a running job with the cursor: only chunks written since are returned', async () => {
    const first = await store.readLogs(job, { phase: 'preview', operation: 'plan' });
    expect(first.text).toBe('plan-1\n');
    const idle = await store.readLogs(job, { phase: 'preview', operation: 'plan', cursor: first.cursor });
    expect(idle).toMatchObject({ text: '', chunks: 0, cursor: first.cursor });
    await store.putLogChunk(job, 'preview', 'plan', 2, Buffer.from('plan-2\n'));
    const next = await store.readLogs(job, { phase: 'preview', operation: 'plan', cursor: idle.cursor });
    expect(next.text).toBe('plan-2\n');
  });

  it('pages by size, whole chunks at a time, and the pages join up to the full text', async () => {
    let cursor: string | undefined;
    const texts: string[] = [];
    for (let i = 0; i < 10; i++) {
      const page = await store.readLogs(job, { cursor, maxBytes: 1 });
      if (page.chunks === 0) break;
      expect(page.chunks).toBe(1);
      texts.push(page.text);
      cursor = page.cursor;
    }
    expect(texts.join('')).toBe((await store.readLogs(job)).text);
  });

  it('rejects a forged cursor and path-like filters', async () => {
    await expect(store.readLogs(job, { cursor: 'bm90LWEtY3Vyc29y' })).rejects.toBeInstanceOf(ValidationError);
    await expect(store.readLogs(job, { phase: '../x' })).rejects.toBeInstanceOf(ValidationError);
    await expect(store.readLogs(job, { operation: 'plan' })).rejects.toBeInstanceOf(ValidationError);
  });

  it('orders sequence numbers numerically', () => {
    const keys = [artifactKeys.logChunk(job, 'preview', 'plan', 10), artifactKeys.logChunk(job, 'preview', 'plan', 9)];
    expect([...keys].sort(compareLogKeys)).toEqual([keys[1], keys[0]]);
  });
});

describe('ArtifactStore.getPlan', () => {
  it('returns the stored summary with a presigned link that serves the plan JSON', async () => {
    const summary = { add: 1, change: 0, destroy: 0, replace: 0, unchanged: 0, read: 0, forget: 0, import: 0, outputChanges: 0, resources: [] };
    await store.putJson(artifactKeys.planJson(JOB), { format_version: '1.2', resource_changes: [] });
    await store.putJson(artifactKeys.planSummary(JOB), { summary, hasChanges: true, digest: 'abc' });
    const plan = await store.getPlan(JOB);
    expect(plan).toMatchObject({ summary, hasChanges: true, digest: 'abc', planUrlExpiresAt: '2025-01-01T00:01:00.000Z' });
    expect(plan?.planUrl).toContain('X-Amz-Expires=60');
    const res = await fetch(plan!.planUrl);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ format_version: '1.2', resource_changes: [] });
  });

  it('is undefined for a job without a plan', async () => {
    expect(await store.getPlan('sj_01jsrnmwpnnc6n62h06xafcgxz')).toBeUndefined();
  });
});

describe('ArtifactStore.getOutputs', () => {
  it('masks sensitive values and keeps the others', async () => {
    await store.putJson(artifactKeys.outputs(JOB), {
      endpoint: { sensitive: false, type: 'string', value: 'https://x' },
      password: { sensitive: true, type: 'string', value: 'hunter2-s3cret' },
    });
    const outputs = await store.getOutputs(JOB);
    expect(outputs).toEqual({ endpoint: { sensitive: false, type: 'string', value: 'https://x' }, password: { sensitive: true, type: 'string', value: MASK } });
    expect(JSON.stringify(outputs)).not.toContain('hunter2');
    // The stored object still has the real value (masked only when read out).
    expect(await store.getText(artifactKeys.outputs(JOB))).toContain('hunter2-s3cret');
  });

  it('is undefined for a job without outputs', async () => {
    expect(await store.getOutputs('sj_01jsrnmwpnnc6n62h06xafcgxz')).toBeUndefined();
  });
});

describe('lifecycle tags', () => {
  it('tags logs and outputs on PutObject itself (one request per chunk) with the class the lifecycle rules expire by', async () => {
    const { mockClient } = await import('aws-sdk-client-mock');
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    const mocked = new S3Client({ region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
    const s3mock = mockClient(mocked);
    s3mock.on(PutObjectCommand).resolves({});
    const tagged = new ArtifactStore(mocked, BUCKET);
    await tagged.putLogChunk(JOB, 'preview', 'plan', 1, Buffer.from('x\n'));
    await tagged.putJson(artifactKeys.outputs(JOB), {});
    await tagged.putJson('elsewhere/key.json', {});
    expect(s3mock.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Tagging)).toEqual([
      'stackjobs%3Aartifact=log',
      'stackjobs%3Aartifact=outputs',
      undefined,
    ]);
    s3mock.restore();
  });

  it('tags an uploaded plan file (lib-storage applies the tags after the upload)', async () => {
    const { GetObjectTaggingCommand } = await import('@aws-sdk/client-s3');
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const planFile = join(mkdtempSync(join(tmpdir(), 'plan-')), 'plan.bin');
    writeFileSync(planFile, 'binary plan');
    await store.uploadFile(artifactKeys.planBinary(JOB), planFile);
    const tags = (await client.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: artifactKeys.planBinary(JOB) }))).TagSet;
    expect(tags).toEqual([{ Key: 'stackjobs:artifact', Value: 'plan' }]);
  });
});
