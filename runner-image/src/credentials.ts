/**
 * Turns the snapshot's credential references into what the IaC child process gets: environment variables
 * (never files, never arguments that Terraform would persist into .terraform/ or the plan file) and the
 * backend arguments. Every secret value read here is registered with the redactor before it is used.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AssumeRoleCommand, type STSClient, type STSClientConfig } from '@aws-sdk/client-sts';
import * as z from '../../lambdas/shared/zod';
import type { SecretSource } from '../../lambdas/domain/ports';
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
/** One hour: longer than a typical phase; a longer run should use a role with a longer maximum session. */
const ASSUME_ROLE_SECONDS = 3600;

/** The profile the S3 backend uses when the provider credential already occupies the AWS_* variables. */
export const BACKEND_PROFILE = 'stackjobs-backend';

export type StsFactory = (config: STSClientConfig) => STSClient;

export interface CredentialDeps {
  secrets: SecretSource;
  sts: StsFactory;
  registry: SecretRegistry;
}

export interface ResolvedCredentials {
  /** Added to the child process environment only. */
  env: Record<string, string>;
  /** `-backend-config=` values for terraform/tofu init. */
  backendConfig: string[];
  /** Pulumi's `login` URL. */
  pulumiBackendUrl: string;
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
  const raw = await deps.secrets.get(ref);
  deps.registry.add(raw);
  const value = parseJson(raw, `${what} (${ref})`);
  // Register every leaf string: a tool may print one field on its own.
  const walk = (v: unknown): void => {
    if (typeof v === 'string') deps.registry.add(v);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(value);
  return value;
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

async function providerEnv(essentials: Essentials, { jobId, org }: CredentialScope, region: string | undefined, deps: CredentialDeps): Promise<Record<string, string>> {
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
  const sts = deps.sts({ ...(region ? { region } : {}), ...(base ? { credentials: base } : {}) });
  try {
    const out = await sts.send(
      new AssumeRoleCommand({
        RoleArn: cred.roleArn,
        RoleSessionName: `stackjobs-${jobId}`.slice(0, SESSION_NAME_MAX),
        DurationSeconds: ASSUME_ROLE_SECONDS,
        ...(cred.externalId ? { ExternalId: cred.externalId } : {}),
      }),
    );
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey) throw new Error(`AssumeRole ${cred.roleArn} returned no credentials`);
    deps.registry.add(c.AccessKeyId, c.SecretAccessKey, c.SessionToken);
    return awsEnv({ accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken });
  } finally {
    sts.destroy();
  }
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
  if (backend.type === 'local') {
    const base = str(cfg.path) ?? stateDir;
    backendConfig.push(`path=${join(base, backend.stateKey)}`);
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

  if (backend.secretRef) {
    const material = awsMaterial(await readSecret(deps, backend.secretRef, 'backend secret', scope.org), `backend secret (${backend.secretRef})`);
    if (material.passphrase) env.PULUMI_CONFIG_PASSPHRASE = material.passphrase;
    if (backend.type === 's3') {
      if (env.AWS_ACCESS_KEY_ID === undefined) Object.assign(env, awsEnv(material));
      else {
        // Both credentials are AWS keys: the provider keeps the AWS_* variables, the backend gets a named profile.
        // The file sits in the workspace (0600, removed with it); its name, not its content, reaches .terraform/.
        const file = join(stateDir, 'backend-credentials');
        const lines = [`[${BACKEND_PROFILE}]`, `aws_access_key_id = ${material.accessKeyId}`, `aws_secret_access_key = ${material.secretAccessKey}`];
        if (material.sessionToken) lines.push(`aws_session_token = ${material.sessionToken}`);
        await writeFile(file, `${lines.join('\n')}\n`, { mode: 0o600 });
        env.AWS_SHARED_CREDENTIALS_FILE = file;
        backendConfig.push(`profile=${BACKEND_PROFILE}`);
      }
    }
  }
  return { env, backendConfig, pulumiBackendUrl };
}
