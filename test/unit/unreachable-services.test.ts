/**
 * A live check that cannot reach its service (offline, DNS, a timeout) is a check result that says so — a warning or,
 * where the org demands live validation, a failure — never an error that becomes a 500 for every submission.
 */
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { S3BackendProbe } from '../../lambdas/adapters/aws/s3-backend-probe';
import { TerraformLockProbe } from '../../lambdas/adapters/terraform-locks/terraform-lock-probe';
import { StsCredentialValidator } from '../../lambdas/adapters/aws/sts-credential-validator';
import { runPreflight } from '../../lambdas/domain/preflight';
import { awsCredential, change, preflightDeps, s3Backend, standardCatalog } from '../support/domain-fixtures';

const sts = mockClient(STSClient);
const s3 = mockClient(S3Client);
const dynamo = mockClient(DynamoDBClient);
beforeEach(() => {
  sts.reset();
  s3.reset();
  dynamo.reset();
});

const offline = () => Object.assign(new Error('getaddrinfo ENOTFOUND sts.us-east-1.amazonaws.com'), { name: 'Error', code: 'ENOTFOUND' });
const secrets = { get: async () => JSON.stringify({ accessKeyId: 'AKIAPLANTED000001', secretAccessKey: 'planted-secret-value' }) };

describe('the STS validator', () => {
  it('reports an unreachable STS as unreachable, by error code, without the key', async () => {
    sts.on(GetCallerIdentityCommand).rejects(offline());
    const result = await new StsCredentialValidator(secrets, 'test-deployment', () => new STSClient({ region: 'us-east-1' })).validate(
      awsCredential({ secretRef: 'stackjobs/acmecorp/x', roleArn: undefined }),
    );
    expect(result).toEqual({ accepted: false, unreachable: true, detail: 'STS GetCallerIdentity could not be reached (ENOTFOUND)' });
    expect(JSON.stringify(result)).not.toMatch(/AKIAPLANTED|planted-secret/);
  });
});

describe('pre-flight with an unreachable validator', () => {
  const unreachable = {
    provider: 'aws',
    validate: async () => ({ accepted: false, unreachable: true, detail: 'STS GetCallerIdentity could not be reached (ENOTFOUND)' }),
  };

  it('passes the credential check with a warning by default', async () => {
    const outcome = await runPreflight(change(), preflightDeps({ validators: [unreachable] }));
    const credential = outcome.checks.find((c) => c.check === 'credential')!;
    expect(credential.passed).toBe(true);
    expect(credential.messages.join('\n')).toContain('warning: STS GetCallerIdentity could not be reached (ENOTFOUND)');
  });

  it('fails it when the org requires live validation', async () => {
    const catalog = standardCatalog().add('org-settings', 'acmecorp', { org: 'acmecorp', requireLiveCredentialValidation: true });
    const outcome = await runPreflight(change(), preflightDeps({ catalog, validators: [unreachable] }));
    const credential = outcome.checks.find((c) => c.check === 'credential')!;
    expect(credential.passed).toBe(false);
    expect(credential.messages.join('\n')).toContain('requires live validation');
  });
});

describe('the S3 backend probe', () => {
  const factories = { s3: () => new S3Client({ region: 'us-east-1' }), dynamo: () => new DynamoDBClient({ region: 'us-east-1' }) };

  it('turns an unreachable S3 into a failed check that says why, not a throw', async () => {
    s3.on(HeadBucketCommand).rejects(offline());
    const result = await new S3BackendProbe(secrets, factories).probe(s3Backend(), 'k/terraform.tfstate');
    expect(result).toMatchObject({ reachable: false, detail: expect.stringContaining('not reachable (ENOTFOUND)') });
  });

  it('names the missing grant when the lock table cannot be read without a secret (was a 500 for every submission)', async () => {
    s3.onAnyCommand().resolves({});
    dynamo.on(GetItemCommand).rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } }));
    // Sorted first of the org's backends, so pre-flight picks it.
    const backend = s3Backend({
      id: 'a_locking_backend',
      secretRef: undefined,
      config: { bucket: 'acme-terraform-state', region: 'us-east-1', lockTable: 'acme-terraform-locks', keyPrefix: 'stack-jobs' },
    });
    const catalog = standardCatalog().add('backend-credentials', 'acmecorp', backend);
    const outcome = await runPreflight(
      change(),
      preflightDeps({ catalog, backendProbe: new S3BackendProbe(secrets, factories), stateLocks: new TerraformLockProbe(secrets, factories) }),
    );
    const check = outcome.checks.find((c) => c.check === 'backend')!;
    expect(check.passed).toBe(false);
    expect(check.messages.join('\n')).toContain('access denied (AccessDeniedException)');
    expect(check.messages.join('\n')).toContain('stackjobs:stateLockTableNames');
  });
});
