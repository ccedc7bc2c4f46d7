/** The AWS adapters behind the pre-flight and submission ports, against aws-sdk-client-mock. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand, StateMachineDoesNotExist } from '@aws-sdk/client-sfn';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { S3BackendProbe } from '../../lambdas/adapters/aws/s3-backend-probe';
import { ArtifactStore } from '../../lambdas/adapters/s3/artifact-store';
import { cachedSecret, SECRET_CACHE_MS, SecretsManagerSource } from '../../lambdas/adapters/aws/secrets';
import { SfnExecutionStarter } from '../../lambdas/adapters/aws/sfn-execution-starter';
import { StsCredentialValidator } from '../../lambdas/adapters/aws/sts-credential-validator';
import { runPreflight } from '../../lambdas/domain/preflight';
import { freezeStackJob } from '../../lambdas/domain/stack-job';
import { externalIdFor } from '../../lambdas/domain/external-id';
import { awsCredential, change, fixedClock, NOW, preflightDeps, s3Backend, TEST_DEPLOYMENT_ID } from '../support/domain-fixtures';

const sfn = mockClient(SFNClient);
const sm = mockClient(SecretsManagerClient);
const sts = mockClient(STSClient);
const s3 = mockClient(S3Client);
const ddb = mockClient(DynamoDBClient);
const KEYS = JSON.stringify({ accessKeyId: 'AKIAEXAMPLEKEY000001', secretAccessKey: 'example-secret-access-key' });
const secrets = {
  get: async (ref: string) => (ref === 'stackjobs/acmecorp/awscred_prod_account' || ref === 'stackjobs/backend' ? KEYS : Promise.reject(new Error('missing'))),
};
const notFound = (name: string) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: 404 } });

beforeEach(() => {
  for (const m of [sfn, sm, sts, s3, ddb]) m.reset();
});

describe('SfnExecutionStarter', () => {
  const job = async () => freezeStackJob(change(), await runPreflight(change(), preflightDeps()), 'sj_01jsrnmwpnnc6n62h06xafcgxv', NOW);

  it('starts the execution named after the job, with the job id and the snapshot as input', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:x', startDate: NOW });
    const snapshot = await job();
    await new SfnExecutionStarter(new SFNClient({}), 'arn:aws:states:us-east-1:1:stateMachine:sm').start(snapshot);
    const sent = sfn.commandCalls(StartExecutionCommand)[0].args[0].input;
    expect({ ...sent, input: JSON.parse(sent.input!) }).toEqual({
      stateMachineArn: 'arn:aws:states:us-east-1:1:stateMachine:sm',
      name: 'sj_01jsrnmwpnnc6n62h06xafcgxv',
      input: { jobId: 'sj_01jsrnmwpnnc6n62h06xafcgxv', snapshot },
    });
  });

  it('leaves a snapshot too heavy for the execution input out of it (the submission wrote it first)', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:x', startDate: NOW });
    const heavy = change({ spec: { blob: 'x'.repeat(70 * 1024) } });
    const snapshot = freezeStackJob(heavy, await runPreflight(heavy, preflightDeps()), 'sj_01jsrnmwpnnc6n62h06xafcgxv', NOW);
    await new SfnExecutionStarter(new SFNClient({}), 'arn:aws:states:us-east-1:1:stateMachine:sm').start(snapshot);
    expect(JSON.parse(sfn.commandCalls(StartExecutionCommand)[0].args[0].input.input!)).toEqual({ jobId: 'sj_01jsrnmwpnnc6n62h06xafcgxv' });
  });

  it('treats an execution that already exists for the job as success, and anything else as an error', async () => {
    sfn.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'exists', $metadata: {} }));
    await expect(new SfnExecutionStarter(new SFNClient({}), 'arn:sm').start(await job())).resolves.toBeUndefined();
    sfn.on(StartExecutionCommand).rejects(new StateMachineDoesNotExist({ message: 'gone', $metadata: {} }));
    await expect(new SfnExecutionStarter(new SFNClient({}), 'arn:sm').start(await job())).rejects.toBeInstanceOf(StateMachineDoesNotExist);
  });
});

describe('SecretsManagerSource', () => {
  it('returns the secret string and passes errors through', async () => {
    sm.on(GetSecretValueCommand, { SecretId: 'stackjobs/a' }).resolves({ SecretString: 'value' });
    sm.on(GetSecretValueCommand, { SecretId: 'stackjobs/missing' }).rejects(new ResourceNotFoundException({ message: 'nope', $metadata: {} }));
    const source = new SecretsManagerSource(new SecretsManagerClient({}));
    expect(await source.get('stackjobs/a')).toBe('value');
    await expect(source.get('stackjobs/missing')).rejects.toBeInstanceOf(ResourceNotFoundException);
  });

  it('reads the value before the last rotation (AWSPREVIOUS): none for a secret never rotated, other errors passed through', async () => {
    sm.on(GetSecretValueCommand, { SecretId: 'stackjobs/rotated', VersionStage: 'AWSPREVIOUS' }).resolves({ SecretString: 'old' });
    sm.on(GetSecretValueCommand, { SecretId: 'stackjobs/once', VersionStage: 'AWSPREVIOUS' }).rejects(
      new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret value for staging label: AWSPREVIOUS", $metadata: {} }),
    );
    sm.on(GetSecretValueCommand, { SecretId: 'stackjobs/denied', VersionStage: 'AWSPREVIOUS' }).rejects(
      Object.assign(new Error('denied'), { name: 'AccessDeniedException' }),
    );
    const source = new SecretsManagerSource(new SecretsManagerClient({}));
    expect(await source.previous('stackjobs/rotated')).toBe('old');
    expect(await source.previous('stackjobs/once')).toBeUndefined();
    await expect(source.previous('stackjobs/denied')).rejects.toThrow('denied');
  });
});

describe('ArtifactStore reads of a key that may be missing', () => {
  it("tells a missing key from a denied read when S3 answers 403 to a caller whose ListBucket holds only for a prefix (the runner's)", async () => {
    const denied = () => Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    const KEY = 'jobs/sj_1/plan/workspace.tar.gz';
    s3.on(GetObjectCommand).rejects(denied());
    const store = new ArtifactStore(new S3Client({ region: 'us-east-1' }), 'artifacts');
    const dir = mkdtempSync(join(tmpdir(), 'artifact-missing-'));
    try {
      // Not there: the listing of that key (which a prefix-limited grant allows) finds nothing.
      s3.on(ListObjectsV2Command, { Bucket: 'artifacts', Prefix: KEY, MaxKeys: 1 }).resolves({ Contents: [{ Key: `${KEY}.old` }] });
      expect(await store.downloadFile(KEY, join(dir, 'a'))).toBe(false);
      expect(await store.getText(KEY)).toBeUndefined();
      // There, and denied: the denial stands.
      s3.on(ListObjectsV2Command, { Bucket: 'artifacts', Prefix: KEY, MaxKeys: 1 }).resolves({ Contents: [{ Key: KEY }] });
      await expect(store.downloadFile(KEY, join(dir, 'a'))).rejects.toThrow('Access Denied');
      // The listing denied too: a denial.
      s3.on(ListObjectsV2Command, { Bucket: 'artifacts', Prefix: KEY, MaxKeys: 1 }).rejects(denied());
      await expect(store.getText(KEY)).rejects.toThrow('Access Denied');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('cachedSecret', () => {
  it('reads a secret once per SECRET_CACHE_MS, so a rotation is picked up within that time, and never caches a failure', async () => {
    const clock = fixedClock(NOW);
    const values = ['first', 'rotated'];
    let reads = 0;
    let failNext = false;
    const read = cachedSecret(
      {
        get: async () => {
          reads++;
          if (failNext) {
            failNext = false;
            throw new Error('throttled');
          }
          return values[Math.min(reads - 1, 1)];
        },
      },
      'stackjobs-slack/bot-token',
      clock,
    );
    expect([await read(), await read()]).toEqual(['first', 'first']);
    clock.set(new Date(NOW.getTime() + SECRET_CACHE_MS + 1));
    failNext = true;
    await expect(read()).rejects.toThrow('throttled');
    expect(await read()).toBe('rotated');
    expect(reads).toBe(3);
  });
});

describe('StsCredentialValidator', () => {
  it('assumes the role when the credential names one, with the stored material and the external id derived for its org', async () => {
    sts.on(AssumeRoleCommand).resolves({ AssumedRoleUser: { Arn: 'arn:aws:sts::111122223333:assumed-role/deployer/stackjobs-preflight', AssumedRoleId: 'x' } });
    const v = await new StsCredentialValidator(secrets, TEST_DEPLOYMENT_ID).validate(awsCredential({ roleArn: 'arn:aws:iam::111122223333:role/deployer' }));
    expect(v).toEqual({ accepted: true, detail: 'STS AssumeRole accepted: arn:aws:sts::111122223333:assumed-role/deployer/stackjobs-preflight' });
    expect(sts.commandCalls(AssumeRoleCommand)[0].args[0].input).toMatchObject({
      RoleArn: 'arn:aws:iam::111122223333:role/deployer',
      ExternalId: externalIdFor(TEST_DEPLOYMENT_ID, 'acmecorp'),
      RoleSessionName: 'stackjobs-preflight',
    });
    const creds = await (sts.commandCalls(AssumeRoleCommand)[0].thisValue as STSClient).config.credentials();
    expect(creds.accessKeyId).toBe('AKIAEXAMPLEKEY000001');
  });

  it('reports a credential STS rejects as not accepted, naming the error but never the material', async () => {
    sts
      .on(GetCallerIdentityCommand)
      .rejects(
        Object.assign(new Error('The security token included in the request is invalid'), { name: 'InvalidClientTokenId', $metadata: { httpStatusCode: 403 } }),
      );
    const v = await new StsCredentialValidator(secrets, TEST_DEPLOYMENT_ID).validate(awsCredential());
    expect(v).toEqual({ accepted: false, detail: 'STS GetCallerIdentity rejected the credential: InvalidClientTokenId' });
    expect(JSON.stringify(v)).not.toContain('example-secret-access-key');
  });

  it('reports a secret that is missing or malformed without echoing it', async () => {
    const missing = await new StsCredentialValidator(secrets, TEST_DEPLOYMENT_ID).validate(awsCredential({ secretRef: 'stackjobs/nope' }));
    expect(missing).toEqual({ accepted: false, detail: 'could not read secret stackjobs/nope: Error' });
    const malformed = await new StsCredentialValidator({ get: async () => 'not-json-planted' }, TEST_DEPLOYMENT_ID).validate(awsCredential());
    expect(malformed.accepted).toBe(false);
    expect(malformed.detail).not.toContain('not-json-planted');
    expect(sts.calls()).toHaveLength(0);
  });

  it('throws on a throttled or unavailable STS so the caller can retry, rather than failing the check', async () => {
    sts.on(GetCallerIdentityCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $metadata: { httpStatusCode: 503 } }));
    await expect(new StsCredentialValidator(secrets, TEST_DEPLOYMENT_ID).validate(awsCredential())).rejects.toThrow('Rate exceeded');
  });
});

describe('S3BackendProbe', () => {
  it("probes with the backend credential: bucket reachable, state present (the lock is the StateLockProbe's)", async () => {
    s3.on(HeadBucketCommand).resolves({});
    s3.on(HeadObjectCommand).resolves({});
    const r = await new S3BackendProbe(secrets).probe(s3Backend({ secretRef: 'stackjobs/backend' }), 'stack-jobs/a/b/c/terraform.tfstate');
    expect(r).toEqual({ reachable: true, stateExists: true, detail: 'bucket acmecorp-terraform-state reachable' });
    expect(s3.commandCalls(HeadObjectCommand)[0].args[0].input).toEqual({ Bucket: 'acmecorp-terraform-state', Key: 'stack-jobs/a/b/c/terraform.tfstate' });
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(0);
  });

  it('reports a state that does not exist yet', async () => {
    s3.on(HeadBucketCommand).resolves({});
    s3.on(HeadObjectCommand).rejects(notFound('NotFound'));
    expect(await new S3BackendProbe(secrets).probe(s3Backend(), 'k')).toEqual({
      reachable: true,
      stateExists: false,
      detail: 'bucket acmecorp-terraform-state reachable',
    });
  });

  it('reports a missing bucket or denied access as unreachable', async () => {
    s3.on(HeadBucketCommand).rejects(notFound('NotFound'));
    expect(await new S3BackendProbe(secrets).probe(s3Backend(), 'k')).toMatchObject({
      reachable: false,
      detail: 'bucket acmecorp-terraform-state does not exist',
    });
    s3.on(HeadBucketCommand).rejects(Object.assign(new Error('Forbidden'), { name: 'Forbidden', $metadata: { httpStatusCode: 403 } }));
    expect(await new S3BackendProbe(secrets).probe(s3Backend(), 'k')).toMatchObject({
      reachable: false,
      detail: 'access to bucket acmecorp-terraform-state denied for the backend credential',
    });
  });
});
