/** Credential references -> child environment and backend arguments; every secret value is registered for redaction. */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import type { Essentials } from '../../lambdas/domain/schemas';
import { assertSecretInScope, assertSecretRefsInScope, BACKEND_PROFILE, resolveCredentials } from '../../runner-image/src/credentials';
import { SecretRegistry } from '../../runner-image/src/redactor';
import { externalIdFor } from '../../lambdas/domain/external-id';

const stsMock = mockClient(STSClient);
let dir: string;
beforeEach(() => {
  stsMock.reset();
  dir = mkdtempSync(join(tmpdir(), 'creds-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const essentials = (over: Partial<Essentials> = {}): Essentials => ({
  provisioner: 'terraform',
  iacModule: { id: 'm', gitRepo: 'github.com/x/y', branch: 'v1', path: '.', rule: 'r' },
  backendCredential: {
    kind: 'terraform_backend_credential',
    id: 'b',
    type: 's3',
    config: { bucket: 'state', region: 'us-east-1' },
    stateKey: 'stack-jobs/o/e/r/terraform.tfstate',
  },
  stackJobRunner: { id: 'r' },
  flowControlPolicy: {
    previewBeforeUpdate: true,
    pauseBetweenPreviewAndUpdate: true,
    skipRefresh: false,
    approvers: [],
    requireDistinctApprover: false,
    approvalTimeoutMinutes: 60,
    source: { level: 'platform', id: 'p' },
  },
  ...over,
});
const ORG = 'acmecorp';
const STATE_ROLE = 'arn:aws:iam::123456789012:role/StackJobs-StateAccess';
const scope = (jobId = 'sj_x') => ({ jobId, org: ORG });
const PROV = 'stackjobs/acmecorp/awscred_prod';
const BE = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:stackjobs/acmecorp/tfcred_state-AbCdEf';
/** A secret source that records what was read. */
const secrets = (map: Record<string, string>, reads: string[] = []) => ({
  get: async (ref: string) => {
    reads.push(ref);
    return map[ref] ?? Promise.reject(new Error(`no ${ref}`));
  },
});

describe('resolveCredentials', () => {
  it('assumes the role with the stored material and gives the child only the session credentials', async () => {
    stsMock.on(AssumeRoleCommand).resolves({
      Credentials: { AccessKeyId: 'ASIASESSION00001', SecretAccessKey: 'session-secret-value', SessionToken: 'session-token-value', Expiration: new Date() },
    });
    const registry = new SecretRegistry();
    const out = await resolveCredentials(
      essentials({
        providerCredential: {
          kind: 'aws_credential',
          id: 'c',
          provider: 'aws',
          secretRef: PROV,
          roleArn: 'arn:aws:iam::123456789012:role/deployer',
          externalId: 'ext-1',
        },
      }),
      scope('sj_01jsrnmwpnnc6n62h06xafcgxv'),
      dir,
      {
        secrets: secrets({ [PROV]: JSON.stringify({ accessKeyId: 'AKIABASE00000001', secretAccessKey: 'base-secret-value' }) }),
        sts: () => new STSClient({ region: 'us-east-1' }),
        registry,
        stateRoleArn: STATE_ROLE,
        deploymentId: '123456789012:us-east-1:StackJobs',
      },
    );
    expect(out.env).toEqual({
      AWS_ACCESS_KEY_ID: 'ASIASESSION00001',
      AWS_SECRET_ACCESS_KEY: 'session-secret-value',
      AWS_SESSION_TOKEN: 'session-token-value',
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'backend-credentials'),
    });
    const call = stsMock.commandCalls(AssumeRoleCommand)[0].args[0].input;
    expect(call).toMatchObject({
      RoleArn: 'arn:aws:iam::123456789012:role/deployer',
      ExternalId: externalIdFor('123456789012:us-east-1:StackJobs', ORG),
      RoleSessionName: 'stackjobs-sj_01jsrnmwpnnc6n62h06xafcgxv',
    });
    expect(registry.redact('base-secret-value session-secret-value session-token-value')).toBe('*** *** ***');
    expect(out.backendConfig).toEqual([
      'bucket=state',
      'key=stack-jobs/o/e/r/terraform.tfstate',
      'region=us-east-1',
      'use_lockfile=true',
      `profile=${BACKEND_PROFILE}`,
    ]);
  });

  it("injects another provider's secret as environment variables, as-is", async () => {
    const local = { kind: 'k', id: 'b', type: 'local' as const, config: {}, stateKey: 'k' };
    const out = await resolveCredentials(
      essentials({ backendCredential: local, providerCredential: { kind: 'gcp_credential', id: 'g', provider: 'gcp', secretRef: 'stackjobs/acmecorp/gcp' } }),
      scope(),
      dir,
      {
        secrets: secrets({ 'stackjobs/acmecorp/gcp': JSON.stringify({ GOOGLE_CREDENTIALS: '{"type":"service_account"}', GOOGLE_PROJECT: 'proj-1' }) }),
        sts: () => new STSClient({}),
        registry: new SecretRegistry(),
      },
    );
    expect(out.env).toEqual({ GOOGLE_CREDENTIALS: '{"type":"service_account"}', GOOGLE_PROJECT: 'proj-1' });
  });

  it('registers the values inside JSON text held by a secret value (a TF_VAR_ object, a Google key file), so one printed alone is redacted', async () => {
    const privateKey = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjPlantedKeyBody01\n-----END PRIVATE KEY-----\n';
    const googleKey = {
      type: 'service_account',
      project_id: 'planted-proj-4821',
      private_key_id: '9f3c2a7be41d08c6f5a2e19b7d40c3a8e6f1b2d9',
      private_key: privateKey,
      client_email: 'deployer@planted-proj-4821.iam.gserviceaccount.com',
      token_uri: 'https://oauth2.googleapis.com/token',
      universe_domain: 'googleapis.com',
    };
    const registry = new SecretRegistry();
    const local = { kind: 'k', id: 'b', type: 'local' as const, config: {}, stateKey: 'k' };
    await resolveCredentials(
      essentials({ backendCredential: local, providerCredential: { kind: 'gcp_credential', id: 'g', provider: 'gcp', secretRef: 'stackjobs/acmecorp/gcp' } }),
      scope(),
      dir,
      {
        secrets: secrets({
          'stackjobs/acmecorp/gcp': JSON.stringify({
            GOOGLE_CREDENTIALS: JSON.stringify(googleKey),
            TF_VAR_db: JSON.stringify({ password: 'Inner-P4ssw0rd-123', replicas: [{ token: 'Replica-T0ken-456' }] }),
            // JSON text inside JSON text inside the value: a module that jsondecode()s twice.
            TF_VAR_nested: JSON.stringify({ inner: JSON.stringify({ api_key: 'Deep-Ap1-Key-789' }) }),
          }),
        }),
        sts: () => new STSClient({}),
        registry,
      },
    );
    for (const inner of ['Inner-P4ssw0rd-123', 'Replica-T0ken-456', 'Deep-Ap1-Key-789', googleKey.private_key_id, privateKey, googleKey.client_email]) {
      expect(registry.redact(`module printed: ${inner}`)).toBe('module printed: ***');
    }
    // The key file's public fields stay readable: a resource type or an API endpoint is no secret.
    expect(registry.redact('google_service_account.deployer: Creating... https://oauth2.googleapis.com/token')).toBe(
      'google_service_account.deployer: Creating... https://oauth2.googleapis.com/token',
    );
  });

  it('registers what a rotated secret held before (each JSON leaf), and goes on, warning by name only, when that read fails', async () => {
    const local = { kind: 'k', id: 'b', type: 'local' as const, config: {}, stateKey: 'k' };
    const ref = 'stackjobs/acmecorp/dd';
    const resolve = (previous: (r: string) => Promise<string | undefined>, registry: SecretRegistry, warnings: string[]) =>
      resolveCredentials(
        essentials({ backendCredential: local, providerCredential: { kind: 'dd', id: 'd', provider: 'datadog', secretRef: ref } }),
        scope(),
        dir,
        {
          secrets: { ...secrets({ [ref]: JSON.stringify({ DD_API_KEY: 'current-key-0123456789abcdef' }) }), previous },
          sts: () => new STSClient({}),
          registry,
          warn: (m) => warnings.push(m),
        },
      );
    const registry = new SecretRegistry();
    const rotatedOut = 'rotated-out-key-0123456789abcdef';
    await resolve(async (r) => (r === ref ? JSON.stringify({ DD_API_KEY: rotatedOut }) : undefined), registry, []);
    expect(registry.redact(`old ${rotatedOut} and new current-key-0123456789abcdef`)).toBe('old *** and new ***');

    const warnings: string[] = [];
    const failing = new SecretRegistry();
    const out = await resolve(
      () => Promise.reject(Object.assign(new Error(`denied reading ${rotatedOut}`), { name: 'AccessDeniedException' })),
      failing,
      warnings,
    );
    expect(out.env).toEqual({ DD_API_KEY: 'current-key-0123456789abcdef' });
    expect(warnings).toEqual([`could not read the value ${ref} had before its last rotation (AccessDeniedException): values set with it are not masked`]);
  });

  it('builds s3 backend arguments with a lock table and endpoint, and gives the backend its own profile beside the provider keys', async () => {
    const registry = new SecretRegistry();
    const out = await resolveCredentials(
      essentials({
        providerCredential: { kind: 'aws_credential', id: 'c', provider: 'aws', secretRef: PROV },
        backendCredential: {
          kind: 'k',
          id: 'b',
          type: 's3',
          config: { bucket: 'state', region: 'eu-west-1', lockTable: 'locks', endpoint: 'http://127.0.0.1:9000' },
          stateKey: 'k/terraform.tfstate',
          secretRef: BE,
        },
      }),
      scope(),
      dir,
      {
        secrets: secrets({
          [PROV]: JSON.stringify({ accessKeyId: 'AKIAPROVIDER0001', secretAccessKey: 'provider-secret' }),
          [BE]: JSON.stringify({ accessKeyId: 'AKIABACKEND00001', secretAccessKey: 'backend-secret' }),
        }),
        sts: () => new STSClient({}),
        registry,
      },
    );
    expect(out.backendConfig).toEqual([
      'bucket=state',
      'key=k/terraform.tfstate',
      'region=eu-west-1',
      'dynamodb_table=locks',
      'endpoints={s3="http://127.0.0.1:9000"}',
      'use_path_style=true',
      `profile=${BACKEND_PROFILE}`,
    ]);
    expect(out.env.AWS_ACCESS_KEY_ID).toBe('AKIAPROVIDER0001');
    const file = out.env.AWS_SHARED_CREDENTIALS_FILE;
    expect(file.startsWith(dir)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toContain(`[${BACKEND_PROFILE}]`);
    // No secret value ever appears in an argument (arguments are logged and persisted by Terraform).
    expect(out.backendConfig.join(' ')).not.toMatch(/secret/);
    expect(registry.redact('backend-secret')).toBe('***');
  });

  it("puts a local backend's state under the configured path, or the workspace state dir", async () => {
    const deps = { secrets: secrets({}), sts: () => new STSClient({}), registry: new SecretRegistry() };
    const local = (config: Record<string, unknown>) =>
      essentials({ backendCredential: { kind: 'k', id: 'b', type: 'local', config, stateKey: 'a/b/terraform.tfstate' } });
    expect((await resolveCredentials(local({ path: '/var/states' }), scope(), dir, deps)).backendConfig).toEqual(['path=/var/states/a/b/terraform.tfstate']);
    expect((await resolveCredentials(local({}), scope(), dir, deps)).backendConfig).toEqual([`path=${dir}/a/b/terraform.tfstate`]);
  });

  it('names the secret, never its content, when the material is malformed', async () => {
    const bad = resolveCredentials(essentials({ providerCredential: { kind: 'aws_credential', id: 'c', provider: 'aws', secretRef: PROV } }), scope(), dir, {
      secrets: secrets({ [PROV]: 'not-json-but-secret-material' }),
      sts: () => new STSClient({}),
      registry: new SecretRegistry(),
    });
    await expect(bad).rejects.toThrow(`provider credential secret (${PROV}) is not JSON`);
    await expect(bad).rejects.not.toThrow(/not-json-but-secret-material/);
  });

  it('refuses a provider or backend secret outside stackjobs/<org>/ (by name or ARN) before reading anything', async () => {
    const value = JSON.stringify({ accessKeyId: 'AKIAOTHERORG0001', secretAccessKey: 'other-org-secret-value' });
    const cases: Array<[Partial<Essentials>, string]> = [
      [{ providerCredential: { kind: 'aws_credential', id: 'c', provider: 'aws', secretRef: 'stackjobs/globex/awscred' } }, 'stackjobs/globex/awscred'],
      [
        {
          providerCredential: {
            kind: 'aws_credential',
            id: 'c',
            provider: 'aws',
            secretRef: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:stackjobs/globex/awscred-x1Y2z3',
          },
        },
        'arn:aws:secretsmanager:us-east-1:123456789012:secret:stackjobs/globex/awscred-x1Y2z3',
      ],
      // A prefix match on the org name alone is not enough: stackjobs/acmecorp-evil/ is another owner.
      [{ providerCredential: { kind: 'gcp_credential', id: 'g', provider: 'gcp', secretRef: 'stackjobs/acmecorp-evil/gcp' } }, 'stackjobs/acmecorp-evil/gcp'],
      // The platform prefix is for module git tokens only.
      [{ providerCredential: { kind: 'aws_credential', id: 'c', provider: 'aws', secretRef: 'stackjobs/platform/awscred' } }, 'stackjobs/platform/awscred'],
      [
        {
          backendCredential: {
            kind: 'k',
            id: 'b',
            type: 's3',
            config: { bucket: 'state', region: 'us-east-1' },
            stateKey: 'k',
            secretRef: 'prod/terraform-state',
          },
        },
        'prod/terraform-state',
      ],
    ];
    for (const [over, ref] of cases) {
      const reads: string[] = [];
      const out = resolveCredentials(essentials(over), scope(), dir, {
        secrets: secrets({ [ref]: value }, reads),
        sts: () => new STSClient({}),
        registry: new SecretRegistry(),
      });
      await expect(out).rejects.toThrow(`"${ref}": it is not under stackjobs/acmecorp/`);
      await expect(out).rejects.not.toThrow(/other-org-secret-value/);
      expect({ ref, reads }).toEqual({ ref, reads: [] });
    }
  });

  it('checks every reference of the snapshot up front; a module git token may also be a platform one', () => {
    const module = (gitTokenSecretRef: string) =>
      essentials({ iacModule: { id: 'm', gitRepo: 'github.com/x/y', branch: 'v1', path: '.', rule: 'r', gitTokenSecretRef } });
    expect(() => assertSecretRefsInScope(module('stackjobs/platform/github'), ORG)).not.toThrow();
    expect(() => assertSecretRefsInScope(module('arn:aws:secretsmanager:us-east-1:123456789012:secret:stackjobs/acmecorp/github-AbCdEf'), ORG)).not.toThrow();
    expect(() => assertSecretRefsInScope(module('stackjobs/globex/github'), ORG)).toThrow(
      'refusing to read module git token secret (iacModule.gitTokenSecretRef) "stackjobs/globex/github": it is not under stackjobs/acmecorp/ or stackjobs/platform/',
    );
    expect(() =>
      assertSecretRefsInScope(essentials({ providerCredential: { kind: 'aws_credential', id: 'c', provider: 'aws', secretRef: 'stackjobs/globex/x' } }), ORG),
    ).toThrow(/providerCredential\.secretRef/);
    expect(() => assertSecretRefsInScope(essentials(), ORG)).not.toThrow();
    expect(() => assertSecretInScope('stackjobs/acmecorp', ORG, 'x')).toThrow(/not under stackjobs\/acmecorp\//);
  });
});

describe("an S3 backend without a secret (the deployment's state role)", () => {
  const keys = { AccessKeyId: 'ASIASTATE0000001', SecretAccessKey: 'state-session-secret', SessionToken: 'state-session-token', Expiration: new Date() };

  it("assumes the state role limited to this job's state key and lock, for the phase's duration, and gives only the backend the keys", async () => {
    stsMock.on(AssumeRoleCommand).resolves({ Credentials: keys });
    const registry = new SecretRegistry();
    const withLock = essentials({
      backendCredential: {
        kind: 'k',
        id: 'b',
        type: 's3',
        config: { bucket: 'state', region: 'us-east-1', lockTable: 'tf-locks' },
        stateKey: 'stack-jobs/o/e/r/terraform.tfstate',
      },
    });
    const out = await resolveCredentials(withLock, scope('sj_state'), dir, {
      secrets: secrets({}),
      sts: () => new STSClient({ region: 'us-east-1' }),
      registry,
      stateRoleArn: STATE_ROLE,
      sessionSeconds: 7200,
    });
    const input = stsMock.commandCalls(AssumeRoleCommand)[0].args[0].input;
    expect(input).toMatchObject({ RoleArn: STATE_ROLE, DurationSeconds: 7200, RoleSessionName: 'stackjobs-sj_state' });
    const policy = JSON.parse(input.Policy!) as { Statement: Array<{ Action: string[]; Resource: string | string[]; Condition?: unknown }> };
    expect(policy.Statement.flatMap((st) => [st.Resource].flat())).toEqual([
      'arn:aws:s3:::state',
      'arn:aws:s3:::state/stack-jobs/o/e/r/terraform.tfstate',
      'arn:aws:s3:::state/stack-jobs/o/e/r/terraform.tfstate.tflock',
      'arn:aws:dynamodb:*:*:table/tf-locks',
    ]);
    expect(JSON.stringify(policy.Statement[2].Condition)).toContain('state/stack-jobs/o/e/r/terraform.tfstate');
    // Only the backend profile holds the keys: no AWS_* variable a provider would pick up.
    expect(Object.keys(out.env)).toEqual(['AWS_SHARED_CREDENTIALS_FILE']);
    expect(readFileSync(out.env.AWS_SHARED_CREDENTIALS_FILE, 'utf8')).toContain('aws_session_token = state-session-token');
    expect(statSync(out.env.AWS_SHARED_CREDENTIALS_FILE).mode & 0o777).toBe(0o600);
    expect(out.backendConfig).toContain(`profile=${BACKEND_PROFILE}`);
    expect(out.pulumiBackendUrl).toContain(`profile=${BACKEND_PROFILE}`);
    expect(registry.redact('state-session-secret state-session-token')).toBe('*** ***');
  });

  it("falls back to the hour STS always allows when the role refuses the phase's duration", async () => {
    stsMock
      .on(AssumeRoleCommand, { DurationSeconds: 14400 })
      .rejects(
        Object.assign(new Error('The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.'), {
          name: 'ValidationError',
        }),
      )
      .on(AssumeRoleCommand, { DurationSeconds: 3600 })
      .resolves({ Credentials: keys });
    const warnings: string[] = [];
    await resolveCredentials(essentials(), scope(), dir, {
      secrets: secrets({}),
      sts: () => new STSClient({ region: 'us-east-1' }),
      registry: new SecretRegistry(),
      stateRoleArn: STATE_ROLE,
      sessionSeconds: 14400,
      warn: (m) => warnings.push(m),
    });
    expect(stsMock.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input.DurationSeconds)).toEqual([14400, 3600]);
    expect(warnings.join()).toContain('refused a 14400 s session; using 3600 s');
  });

  it('refuses to run with no credentials at all (no secret, no state role) and says what to do', async () => {
    await expect(
      resolveCredentials(essentials(), scope(), dir, { secrets: secrets({}), sts: () => new STSClient({}), registry: new SecretRegistry() }),
    ).rejects.toThrow(/has no secretRef and this runner has no state role \(STACKJOBS_STATE_ROLE_ARN\)/);
  });
});

describe('the ExternalId of a provider role (confused deputy)', () => {
  const VICTIM_ROLE = 'arn:aws:iam::111122223333:role/stackjobs-acmecorp-deployer';
  const DEPLOYMENT = '123456789012:us-east-1:StackJobs';

  it("is derived from the deployment and the job's org: another org naming the victim's role sends its own, and a snapshot's is ignored", async () => {
    stsMock.on(AssumeRoleCommand).resolves({ Credentials: { AccessKeyId: 'ASIAX', SecretAccessKey: 's', SessionToken: 't', Expiration: new Date() } });
    const local = { kind: 'k', id: 'b', type: 'local' as const, config: {}, stateKey: 'k' };
    const withRole = (org: string) =>
      resolveCredentials(
        essentials({
          backendCredential: local,
          providerCredential: { kind: 'aws_credential', id: 'c', provider: 'aws', roleArn: VICTIM_ROLE, externalId: 'attacker-chosen' },
        }),
        { jobId: 'sj_x', org },
        dir,
        { secrets: secrets({}), sts: () => new STSClient({ region: 'us-east-1' }), registry: new SecretRegistry(), deploymentId: DEPLOYMENT },
      );
    await withRole('acmecorp');
    await withRole('globex');
    const sent = stsMock.commandCalls(AssumeRoleCommand).map((c) => c.args[0].input.ExternalId);
    expect(sent).toEqual([externalIdFor(DEPLOYMENT, 'acmecorp'), externalIdFor(DEPLOYMENT, 'globex')]);
    expect(sent[0]).not.toBe(sent[1]);
    expect(sent).not.toContain('attacker-chosen');
  });

  it('cannot be derived without the deployment id: the runner refuses rather than assuming without one', async () => {
    const local = { kind: 'k', id: 'b', type: 'local' as const, config: {}, stateKey: 'k' };
    await expect(
      resolveCredentials(
        essentials({ backendCredential: local, providerCredential: { kind: 'aws_credential', id: 'c', provider: 'aws', roleArn: VICTIM_ROLE } }),
        scope(),
        dir,
        {
          secrets: secrets({}),
          sts: () => new STSClient({}),
          registry: new SecretRegistry(),
        },
      ),
    ).rejects.toThrow(/STACKJOBS_DEPLOYMENT_ID/);
    expect(stsMock.commandCalls(AssumeRoleCommand)).toHaveLength(0);
  });
});
