/**
 * Probes a Terraform/OpenTofu S3 state backend with the backend's own credential: HeadBucket (reachable),
 * HeadObject on the state key (exists), and both lock forms Terraform uses — the DynamoDB lock table item
 * (LockID `<bucket>/<key>`) and the S3 native lock object `<key>.tflock` — whose Info names who holds it.
 */
import { DynamoDBClient, GetItemCommand, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import type { BackendProbe, BackendProbeResult, SecretSource, StateLockInfo } from '../../domain/ports';
import type { BackendCredential } from '../../domain/schemas';
import { s3Sdk } from './sdk';
import { awsSecretMaterialSchema } from './sts-credential-validator';

export interface BackendClientFactories {
  s3: (config: S3ClientConfig) => S3Client;
  dynamo: (config: DynamoDBClientConfig) => DynamoDBClient;
}

const defaultFactories: BackendClientFactories = { s3: (c) => new (s3Sdk().S3Client)(c), dynamo: (c) => new DynamoDBClient(c) };

const statusOf = (e: unknown) => (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

/** Terraform's lock Info document, as written by `terraform` into the lock table or the .tflock object. */
export function parseLockInfo(raw: string | undefined): StateLockInfo | undefined {
  if (!raw) return undefined;
  try {
    const info = JSON.parse(raw) as { Who?: string; Created?: string; Operation?: string; ID?: string };
    return { holder: info.Who ?? 'unknown', since: info.Created, operation: info.Operation, lockId: info.ID };
  } catch {
    return { holder: 'unknown (unreadable lock info)' };
  }
}

export class S3BackendProbe implements BackendProbe {
  constructor(
    private readonly secrets: SecretSource,
    private readonly factories: BackendClientFactories = defaultFactories,
  ) {}

  async probe(backend: BackendCredential, stateKey: string): Promise<BackendProbeResult> {
    try {
      return await this.probeOnce(backend, stateKey);
    } catch (e) {
      // A probe that could not finish is a failed check that says why (by error name), never a 500 for the caller.
      const err = e as Error & { $metadata?: { httpStatusCode?: number }; code?: string };
      const status = err.$metadata?.httpStatusCode;
      // The service's own failure (5xx, throttling) after the SDK's retries is transient: the caller retries.
      if ((status && status >= 500) || /Throttl|SlowDown/.test(err.name)) throw e;
      const what = status === 403 || err.name === 'AccessDeniedException' ? `access denied (${err.name})` : status ? `${err.name} (HTTP ${status})` : `not reachable (${err.code ?? err.name})`;
      const lock = backend.config.lockTable ? `; reading lock table ${String(backend.config.lockTable)} without a backend secret needs the table in stackjobs:stateLockTableNames` : '';
      return { reachable: false, stateExists: false, detail: `backend ${backend.id} could not be checked: ${what}${lock}` };
    }
  }

  private async probeOnce(backend: BackendCredential, stateKey: string): Promise<BackendProbeResult> {
    if (backend.type === 'local') {
      return { reachable: true, stateExists: false, detail: 'local backend (files on the runner): reachability, state and locks cannot be checked before the run' };
    }
    const { bucket, region, endpoint, lockTable } = backend.config;
    let credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
    if (backend.secretRef) {
      const parsed = awsSecretMaterialSchema.safeParse(JSON.parse(await this.secrets.get(backend.secretRef).catch(() => 'null')));
      if (!parsed.success) return { reachable: false, stateExists: false, detail: `backend secret ${backend.secretRef} is missing or not JSON {accessKeyId, secretAccessKey, sessionToken?}` };
      credentials = parsed.data;
    }
    const common = { region, ...(credentials ? { credentials } : {}), ...(endpoint ? { endpoint } : {}) };
    const s3 = this.factories.s3({ ...common, forcePathStyle: Boolean(endpoint) });
    try {
      try {
        await s3.send(new (s3Sdk().HeadBucketCommand)({ Bucket: bucket }));
      } catch (e) {
        const status = statusOf(e);
        if (status === 404) return { reachable: false, stateExists: false, detail: `bucket ${bucket} does not exist` };
        if (status === 403) return { reachable: false, stateExists: false, detail: `access to bucket ${bucket} denied for the backend credential` };
        throw e;
      }
      const [stateExists, s3Lock, tableLock] = await Promise.all([
        s3.send(new (s3Sdk().HeadObjectCommand)({ Bucket: bucket, Key: stateKey })).then(
          () => true,
          (e) => (statusOf(e) === 404 ? false : Promise.reject(e)),
        ),
        s3.send(new (s3Sdk().GetObjectCommand)({ Bucket: bucket, Key: `${stateKey}.tflock` })).then(
          async (out) => parseLockInfo(await out.Body?.transformToString()),
          (e) => (statusOf(e) === 404 ? undefined : Promise.reject(e)),
        ),
        lockTable ? this.readLockTable(common, lockTable, `${bucket}/${stateKey}`) : Promise.resolve(undefined),
      ]);
      return { reachable: true, stateExists, lock: s3Lock ?? tableLock, detail: `bucket ${bucket} reachable` };
    } finally {
      s3.destroy();
    }
  }

  private async readLockTable(config: DynamoDBClientConfig, table: string, lockId: string): Promise<StateLockInfo | undefined> {
    const dynamo = this.factories.dynamo(config);
    try {
      const out = await dynamo.send(new GetItemCommand({ TableName: table, Key: { LockID: { S: lockId } }, ConsistentRead: true }));
      return parseLockInfo(out.Item?.Info?.S);
    } finally {
      dynamo.destroy();
    }
  }
}
