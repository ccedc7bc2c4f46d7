/**
 * Turns the snapshot's credential references into what the IaC child process gets: environment variables
 * (never files, never arguments that Terraform would persist into .terraform/ or the plan file) and the
 * backend arguments. Every secret value read here is registered with the redactor before it is used.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { STSClient, STSClientConfig } from '@aws-sdk/client-sts';
import { stsSdk } from '../../lambdas/adapters/aws/sdk';
import * as z from '../../lambdas/shared/zod';
import type { SecretSource } from '../../lambdas/domain/ports';
import { externalIdFor } from '../../lambdas/domain/external-id';
import { PLATFORM_SECRET_OWNER, secretNameOf, secretPrefixOf, type Essentials } from '../../lambdas/domain/schemas';
import type { SecretRegistry } from './redactor';

const awsMaterialSchema = z.object({
  accessKeyId: z.string().min(1),
  secretAccessKey: z.string().min(1),
  sessionToken: z.string().optional(),
  /** Pulumi only: the passphrase of a self-managed backend's secrets provider. */
  passphrase: z.string().optional(),
});
type AwsMaterial = z.infer<typeof awsMaterialSchema>;

const envMapSchema = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string());

/** Names assume-role sessions so CloudTrail ties an API call to its job. */
const SESSION_NAME_MAX = 64;
/**
 * Sessions last as long as the phase may (its timeout), within STS's bounds (15 min .. 12 h). A role whose maximum
 * session is shorter, or a chained assumption (the runner's task role assuming another role: AWS caps those at one
 * hour), is refused a longer one: the runner then asks for the hour STS always allows, and says so.
 */
export const MIN_SESSION_SECONDS = 900;
export const MAX_SESSION_SECONDS = 43_200;
export const FALLBACK_SESSION_SECONDS = 3600;
export const sessionSecondsFor = (phaseTimeoutSeconds: number) => Math.min(MAX_SESSION_SECONDS, Math.max(MIN_SESSION_SECONDS, Math.ceil(phaseTimeoutSeconds)));

/**
 * The profile the S3 backend's credentials live under (a 0600 file in the workspace): never the AWS_* variables, which
 * belong to the provider credential, so the backend can never silently use the provider's keys or the other way round.
 */
export const BACKEND_PROFILE = 'stackjobs-backend';

export type StsFactory = (config: STSClientConfig) => STSClient;

export interface CredentialDeps {
  secrets: SecretSource;
  sts: StsFactory;
  registry: SecretRegistry;
  /** The deployment's id: the ExternalId of a provider role is derived from it and the job's org. */
  deploymentId?: string;
  /** The phase's timeout: how long assumed sessions should last. @default one hour */
  sessionSeconds?: number;
  /**
   * The deployment's state-access role (STACKJOBS_STATE_ROLE_ARN): how an S3 backend without a secret reaches its
   * state. The runner assumes it with a session policy limited to the job's state key and lock.
   */
  stateRoleArn?: string;
  warn?: (message: string) => void;
}

export interface ResolvedCredentials {
  /** Added to the child process environment only. */
  env: Record<string, string>;
  /** `-backend-config=` values for terraform/tofu init. */
  backendConfig: string[];
  /** Pulumi's `login` URL. */
  pulumiBackendUrl: string;
  /** A local backend's state file (its directory is the stack's). */
  localStatePath?: string;
}

function parseJson(raw: string, what: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    // Never echo the content: it is secret material.
    throw new Error(`${what} is not JSON`);
  }
}

/** Who the phase runs for: the job (names assume-role sessions) and its org (confines the secrets it may read). */
export interface CredentialScope {
  jobId: string;
  org: string;
}

/**
 * Defence in depth behind the catalog's own check: a secret reference must name a secret under
 * `stackjobs/<org>/` (by name, or by ARN: the name after `:secret:`). The module's git token may also be a
 * platform one (`stackjobs/platform/`): the snapshot does not record the module's scope.
 * The error names the reference (never a value: nothing has been read).
 */
export function assertSecretInScope(ref: string, org: string, what: string, options: { platform?: boolean } = {}): void {
  const name = secretNameOf(ref);
  const prefixes = [secretPrefixOf(org), ...(options.platform ? [secretPrefixOf(PLATFORM_SECRET_OWNER)] : [])];
  if (!prefixes.some((p) => name.startsWith(p))) {
    throw new Error(`refusing to read ${what} "${ref}": it is not under ${prefixes.join(' or ')} (org ${org}); no secret was read`);
  }
}

/** Checks every secret reference of the snapshot before any of them is read. */
export function assertSecretRefsInScope(essentials: Essentials, org: string): void {
  const git = essentials.iacModule.gitTokenSecretRef;
  if (git) assertSecretInScope(git, org, 'module git token secret (iacModule.gitTokenSecretRef)', { platform: true });
  const provider = essentials.providerCredential?.secretRef;
  if (provider) assertSecretInScope(provider, org, 'provider credential secret (providerCredential.secretRef)');
  const backend = essentials.backendCredential.secretRef;
  if (backend) assertSecretInScope(backend, org, 'backend secret (backendCredential.secretRef)');
}

async function readSecret(deps: CredentialDeps, ref: string, what: string, org: string): Promise<unknown> {
  assertSecretInScope(ref, org, what);
  const [raw] = await Promise.all([deps.secrets.get(ref), registerPreviousValue(deps, ref)]);
  deps.registry.add(raw);
  const value = parseJson(raw, `${what} (${ref})`);
  registerLeaves(deps.registry, value);
  return value;
}

/**
 * Registers what a secret held before its last rotation (SecretSource.previous) for redaction: the state, and so a
 * plan's before-values, prior state and outputs, still hold values that were set with it, and the runner redacts only
 * what it knows. Read beside the current value and never used. A failed read does not fail the job; it is told, by
 * name only.
 */
export async function registerPreviousValue(deps: Pick<CredentialDeps, 'secrets' | 'registry' | 'warn'>, ref: string): Promise<void> {
  if (!deps.secrets.previous) return;
  let raw: string | undefined;
  try {
    raw = await deps.secrets.previous(ref);
  } catch (e) {
    deps.warn?.(`could not read the value ${ref} had before its last rotation (${(e as Error).name}): values set with it are not masked`);
    return;
  }
  if (raw === undefined) return;
  deps.registry.add(raw);
  try {
    registerLeaves(deps.registry, JSON.parse(raw));
  } catch {
    // Not JSON (a git token, a secret rewritten in another shape): the whole value is registered.
  }
}

/** How many levels of JSON text inside a string value are opened to find the secrets within. */
const MAX_JSON_IN_STRING_DEPTH = 5;

/**
 * Fields of a Google credential file (GOOGLE_CREDENTIALS) whose values are public: the file's kind, Google's endpoints
 * and the URL of the key's public certificate. Registered, "service_account" would turn the resource type
 * google_service_account into google_*** in logs and in the plan.json that plan policies read, and "googleapis.com"
 * every API endpoint; they are no secret, so they are left out when found inside JSON text.
 */
const PUBLIC_CREDENTIAL_FILE_FIELDS = new Set(['type', 'universe_domain', 'auth_uri', 'token_uri', 'auth_provider_x509_cert_url', 'client_x509_cert_url']);

/**
 * Registers every leaf string of a secret's value: a tool may print one field on its own. A string that is itself a
 * JSON object or array (a TF_VAR_ holding an object, a GOOGLE_CREDENTIALS service account key) is opened too, up to
 * MAX_JSON_IN_STRING_DEPTH levels, since a module decodes it and may print an inner value such as a private key alone.
 * The registry drops values too short to be credentials, as for any other leaf.
 */
function registerLeaves(registry: SecretRegistry, value: unknown, depth = 0): void {
  if (typeof value === 'string') {
    registry.add(value);
    if (depth >= MAX_JSON_IN_STRING_DEPTH || !/^\s*[[{]/.test(value)) return;
    let inner: unknown;
    try {
      inner = JSON.parse(value);
    } catch {
      return; // Not JSON after all: the string itself is registered.
    }
    registerLeaves(registry, inner, depth + 1);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value))
      if (depth === 0 || Array.isArray(value) || !PUBLIC_CREDENTIAL_FILE_FIELDS.has(k)) registerLeaves(registry, v, depth);
  }
}

function awsMaterial(value: unknown, what: string): AwsMaterial {
  const parsed = awsMaterialSchema.safeParse(value);
  if (!parsed.success) throw new Error(`${what} is not JSON {accessKeyId, secretAccessKey, sessionToken?}`);
  return parsed.data;
}

const awsEnv = (m: Pick<AwsMaterial, 'accessKeyId' | 'secretAccessKey' | 'sessionToken'>) => ({
  AWS_ACCESS_KEY_ID: m.accessKeyId,
  AWS_SECRET_ACCESS_KEY: m.secretAccessKey,
  ...(m.sessionToken ? { AWS_SESSION_TOKEN: m.sessionToken } : {}),
});

async function providerEnv(
  essentials: Essentials,
  { jobId, org }: CredentialScope,
  region: string | undefined,
  deps: CredentialDeps,
): Promise<Record<string, string>> {
  const cred = essentials.providerCredential;
  if (!cred) return {};
  const material = cred.secretRef ? await readSecret(deps, cred.secretRef, 'provider credential secret', org) : undefined;
  if (cred.provider !== 'aws') {
    if (material === undefined) return {};
    const parsed = envMapSchema.safeParse(material);
    if (!parsed.success) throw new Error(`provider credential secret (${cred.secretRef}) is not a JSON object of ENV_NAME -> string`);
    return parsed.data;
  }
  const base = material === undefined ? undefined : awsMaterial(material, `provider credential secret (${cred.secretRef})`);
  if (!cred.roleArn) return base ? awsEnv(base) : {};
  // With no stored material, the runner's own task role assumes the target role.
  // The external id is the service's, derived here from the deployment and the job's org: whatever a snapshot says is ignored.
  if (!deps.deploymentId)
    throw new Error(`provider credential ${cred.id} names a role, and this runner has no deployment id (STACKJOBS_DEPLOYMENT_ID) to derive its external id`);
  const session = await assumeRole(deps, { roleArn: cred.roleArn, jobId, region, base, externalId: externalIdFor(deps.deploymentId, org) });
  return awsEnv(session);
}

/** AssumeRole for the phase's duration (or the hour STS always allows, when the role refuses longer); registers the keys. */
async function assumeRole(
  deps: CredentialDeps,
  o: {
    roleArn: string;
    jobId: string;
    region?: string;
    base?: Pick<AwsMaterial, 'accessKeyId' | 'secretAccessKey' | 'sessionToken'>;
    externalId?: string;
    policy?: string;
  },
): Promise<Required<Pick<AwsMaterial, 'accessKeyId' | 'secretAccessKey'>> & { sessionToken?: string }> {
  const sts = deps.sts({ ...(o.region ? { region: o.region } : {}), ...(o.base ? { credentials: o.base } : {}) });
  const wanted = sessionSecondsFor(deps.sessionSeconds ?? FALLBACK_SESSION_SECONDS);
  const ask = (DurationSeconds: number) =>
    sts.send(
      new (stsSdk().AssumeRoleCommand)({
        RoleArn: o.roleArn,
        RoleSessionName: `stackjobs-${o.jobId}`.slice(0, SESSION_NAME_MAX),
        DurationSeconds,
        ...(o.externalId ? { ExternalId: o.externalId } : {}),
        ...(o.policy ? { Policy: o.policy } : {}),
      }),
    );
  try {
    let out;
    try {
      out = await ask(wanted);
    } catch (e) {
      // "The requested DurationSeconds exceeds the MaxSessionDuration set for this role" / the one-hour chaining cap.
      if (wanted <= FALLBACK_SESSION_SECONDS || (e as Error).name !== 'ValidationError') throw e;
      deps.warn?.(`${o.roleArn} refused a ${wanted} s session; using ${FALLBACK_SESSION_SECONDS} s (a phase longer than that may outlive its credentials)`);
      out = await ask(FALLBACK_SESSION_SECONDS);
    }
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey) throw new Error(`AssumeRole ${o.roleArn} returned no credentials`);
    deps.registry.add(c.AccessKeyId, c.SecretAccessKey, c.SessionToken);
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}) };
  } finally {
    sts.destroy();
  }
}

/**
 * The session policy for an S3 backend reached through the state role: this job's state object, its .tflock, a
 * listing limited to that key, and the lock table's items for this state (Terraform's LockID and its digest item).
 */
export function stateSessionPolicy(bucket: string, stateKey: string, lockTable?: string): string {
  const statements: object[] = [
    {
      Effect: 'Allow',
      Action: ['s3:ListBucket'],
      Resource: `arn:aws:s3:::${bucket}`,
      Condition: { StringLike: { 's3:prefix': [stateKey, `${stateKey}.tflock`] } },
    },
    {
      Effect: 'Allow',
      Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
      Resource: [`arn:aws:s3:::${bucket}/${stateKey}`, `arn:aws:s3:::${bucket}/${stateKey}.tflock`],
    },
  ];
  if (lockTable) {
    statements.push({
      Effect: 'Allow',
      Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:DescribeTable'],
      Resource: `arn:aws:dynamodb:*:*:table/${lockTable}`,
      Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [`${bucket}/${stateKey}`, `${bucket}/${stateKey}-md5`] } },
    });
  }
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}

/** Writes the backend's profile (0600, in the workspace, removed with it); only its name reaches .terraform/. */
async function writeBackendProfile(stateDir: string, m: Pick<AwsMaterial, 'accessKeyId' | 'secretAccessKey' | 'sessionToken'>): Promise<string> {
  const file = join(stateDir, 'backend-credentials');
  const lines = [`[${BACKEND_PROFILE}]`, `aws_access_key_id = ${m.accessKeyId}`, `aws_secret_access_key = ${m.secretAccessKey}`];
  if (m.sessionToken) lines.push(`aws_session_token = ${m.sessionToken}`);
  await writeFile(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  return file;
}

const str = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** Resolves provider and backend credentials for one phase. `stateDir` is the workspace's state/ directory. */
export async function resolveCredentials(essentials: Essentials, scope: CredentialScope, stateDir: string, deps: CredentialDeps): Promise<ResolvedCredentials> {
  const backend = essentials.backendCredential;
  const cfg = backend.config;
  const region = str(cfg.region);
  const env: Record<string, string> = await providerEnv(essentials, scope, region, deps);

  const backendConfig: string[] = [];
  let pulumiBackendUrl: string;
  let localStatePath: string | undefined;
  if (backend.type === 'local') {
    const base = str(cfg.path) ?? stateDir;
    localStatePath = join(base, backend.stateKey);
    backendConfig.push(`path=${localStatePath}`);
    pulumiBackendUrl = `file://${join(base, backend.stateKey.replace(/\/[^/]*$/, ''))}`;
  } else {
    const bucket = str(cfg.bucket);
    if (!bucket || !region) throw new Error('the s3 backend needs config.bucket and config.region');
    backendConfig.push(`bucket=${bucket}`, `key=${backend.stateKey}`, `region=${region}`);
    const lockTable = str(cfg.lockTable);
    // Without a lock table, S3-native locking (Terraform >= 1.10, OpenTofu >= 1.10) still prevents concurrent writers.
    backendConfig.push(lockTable ? `dynamodb_table=${lockTable}` : 'use_lockfile=true');
    const endpoint = str(cfg.endpoint);
    if (endpoint) backendConfig.push(`endpoints={s3="${endpoint}"}`, 'use_path_style=true');
    const query = new URLSearchParams({ region, ...(endpoint ? { endpoint, s3ForcePathStyle: 'true' } : {}) });
    pulumiBackendUrl = `s3://${bucket}/${str(cfg.keyPrefix) ?? 'stack-jobs'}?${query.toString()}`;
  }

  let backendKeys: Pick<AwsMaterial, 'accessKeyId' | 'secretAccessKey' | 'sessionToken'> | undefined;
  if (backend.secretRef) {
    const material = awsMaterial(await readSecret(deps, backend.secretRef, 'backend secret', scope.org), `backend secret (${backend.secretRef})`);
    if (material.passphrase) env.PULUMI_CONFIG_PASSPHRASE = material.passphrase;
    if (backend.type === 's3') backendKeys = material;
  } else if (backend.type === 's3') {
    // No secret: the deployment's state role, limited by a session policy to this job's state key and lock. The tool
    // never gets the runner's own task-role credentials (they are stripped from its environment).
    if (!deps.stateRoleArn) {
      throw new Error(
        `the S3 backend ${backend.id} has no secretRef and this runner has no state role (STACKJOBS_STATE_ROLE_ARN): give the backend a secret, or deploy the state role`,
      );
    }
    const bucket = str(cfg.bucket)!;
    backendKeys = await assumeRole(deps, {
      roleArn: deps.stateRoleArn,
      jobId: scope.jobId,
      region,
      policy: stateSessionPolicy(bucket, backend.stateKey, str(cfg.lockTable)),
    });
  }
  if (backendKeys) {
    env.AWS_SHARED_CREDENTIALS_FILE = await writeBackendProfile(stateDir, backendKeys);
    backendConfig.push(`profile=${BACKEND_PROFILE}`);
    pulumiBackendUrl = `${pulumiBackendUrl}&profile=${BACKEND_PROFILE}`;
  }
  return { env, backendConfig, pulumiBackendUrl, ...(localStatePath ? { localStatePath } : {}) };
}
