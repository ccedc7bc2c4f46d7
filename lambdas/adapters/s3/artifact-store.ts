/**
 * A job's artifacts in S3: the runner writes logs, plans and outputs; the API reads them back
 * (logs to follow a running job, the plan summary with a short-lived link, outputs with sensitive values masked).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { ValidationError } from '../../domain/errors';
import type { PlanSummary } from '../../domain/schemas';
import { clientOf, s3PresignSdk, s3Sdk, s3UploadSdk, type ClientRef } from '../aws/sdk';
import { ARTIFACT_TAG, artifactClassOf, artifactKeys, compareLogKeys, parseLogChunkKey } from './artifact-keys';

/** The lifecycle tag for a key, as PutObject's `Tagging` query string (absent for keys outside a class). */
function taggingOf(key: string): { Tagging?: string } {
  const cls = artifactClassOf(key);
  return cls ? { Tagging: new URLSearchParams({ [ARTIFACT_TAG]: cls }).toString() } : {};
}

/** One output as `terraform output -json` prints it (the Pulumi driver normalises to the same shape). */
export interface OutputValue {
  sensitive: boolean;
  type?: unknown;
  value: unknown;
}
export type OutputValues = Record<string, OutputValue>;

export const MASK = '***';

export interface StoredPlanSummary {
  summary: PlanSummary;
  hasChanges: boolean;
  digest: string;
}

export interface PlanView extends StoredPlanSummary {
  /** Presigned GET of the full plan JSON (sensitive values already masked by the runner). */
  planUrl: string;
  planUrlExpiresAt: string;
}

export interface LogQuery {
  phase?: string;
  operation?: string;
  /** Opaque: the `cursor` of a previous page. */
  cursor?: string;
  /** Stop after roughly this many bytes (whole chunks only). @default 1 MiB */
  maxBytes?: number;
}

export interface LogPage {
  text: string;
  /** Pass back to read what was written since; present even when nothing new was found, so a client can poll. */
  cursor?: string;
  /** Chunks read in this page, in order. */
  chunks: number;
}

/** Read side, as the API handler uses it. */
export interface ArtifactReader {
  readLogs(jobId: string, query?: LogQuery): Promise<LogPage>;
  getPlan(jobId: string): Promise<PlanView | undefined>;
  getOutputs(jobId: string): Promise<OutputValues | undefined>;
  /** The masked plan document the runner stored (Terraform show-json or Pulumi preview JSON). */
  getPlanDocument(jobId: string): Promise<Record<string, unknown> | undefined>;
  /** The refresh's masked document (drift with attributes), when the tool writes one. */
  getRefreshDocument(jobId: string): Promise<Record<string, unknown> | undefined>;
}

export interface ArtifactStoreOptions {
  /** Lifetime of presigned plan links. @default 300 */
  presignSeconds?: number;
  now?: () => Date;
}

const DEFAULT_LOG_PAGE_BYTES = 1 << 20;

const isMissing = (e: unknown) => (e as { name?: string })?.name === 'NoSuchKey' || (e as { name?: string })?.name === 'NotFound';

/** Replaces every sensitive output's value with the mask; the stored object keeps the real value. */
export function maskOutputs(outputs: OutputValues): OutputValues {
  return Object.fromEntries(Object.entries(outputs).map(([name, o]) => [name, o.sensitive ? { ...o, value: MASK } : o]));
}

function encodeLogCursor(key: string): string {
  return Buffer.from(JSON.stringify({ k: key })).toString('base64url');
}

function decodeLogCursor(cursor: string | undefined): string | undefined {
  if (!cursor) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { k?: unknown };
    if (typeof parsed.k === 'string' && parseLogChunkKey(parsed.k)) return parsed.k;
  } catch {
    // fall through
  }
  throw new ValidationError('invalid cursor', [{ path: 'cursor', message: 'not a cursor this API returned' }]);
}

const segment = /^[a-z]+$/;

export class ArtifactStore implements ArtifactReader {
  private readonly presignSeconds: number;
  private readonly now: () => Date;

  constructor(
    private readonly s3Ref: ClientRef<S3Client>,
    readonly bucket: string,
    options: ArtifactStoreOptions = {},
  ) {
    this.presignSeconds = options.presignSeconds ?? 300;
    this.now = options.now ?? (() => new Date());
  }

  private get s3client(): S3Client {
    return clientOf(this.s3Ref);
  }

  // ------------------------------------------------------------ write side (the runner)

  async putLogChunk(jobId: string, phase: string, operation: string, seq: number, body: Buffer): Promise<string> {
    const key = artifactKeys.logChunk(jobId, phase, operation, seq);
    await this.s3client.send(
      new (s3Sdk().PutObjectCommand)({ Bucket: this.bucket, Key: key, Body: body, ContentType: 'text/plain; charset=utf-8', ...taggingOf(key) }),
    );
    return key;
  }

  async putJson(key: string, value: unknown): Promise<void> {
    await this.s3client.send(
      new (s3Sdk().PutObjectCommand)({ Bucket: this.bucket, Key: key, Body: JSON.stringify(value), ContentType: 'application/json', ...taggingOf(key) }),
    );
  }

  async putText(key: string, text: string): Promise<void> {
    await this.s3client.send(
      new (s3Sdk().PutObjectCommand)({ Bucket: this.bucket, Key: key, Body: text, ContentType: 'text/plain; charset=utf-8', ...taggingOf(key) }),
    );
  }

  /** Streams a local file up (multipart when large), so a big plan never sits in memory. */
  async uploadFile(key: string, path: string, contentType = 'application/octet-stream'): Promise<void> {
    const cls = artifactClassOf(key);
    await new (s3UploadSdk().Upload)({
      client: this.s3client,
      params: { Bucket: this.bucket, Key: key, Body: createReadStream(path), ContentType: contentType },
      tags: cls ? [{ Key: ARTIFACT_TAG, Value: cls }] : [],
    }).done();
  }

  /** Streams an object down to a file. Returns false when the object does not exist. */
  async downloadFile(key: string, path: string): Promise<boolean> {
    try {
      const out = await this.s3client.send(new (s3Sdk().GetObjectCommand)({ Bucket: this.bucket, Key: key }));
      await pipeline(out.Body as Readable, createWriteStream(path, { mode: 0o600 }));
      return true;
    } catch (e) {
      if (await this.missing(e, key)) return false;
      throw e;
    }
  }

  /**
   * Whether a GetObject error means the object is not there. S3 answers a missing key with 404 only to a caller allowed
   * s3:ListBucket on the bucket, and with 403 to one that is not (the runner's ListBucket holds only for prefixes under
   * jobs/): a 403 is settled by listing that very key, which such a grant allows. Denied that too, it stays a denial.
   */
  private async missing(e: unknown, key: string): Promise<boolean> {
    if (isMissing(e)) return true;
    if ((e as { name?: string })?.name !== 'AccessDenied') return false;
    try {
      const out = await this.s3client.send(new (s3Sdk().ListObjectsV2Command)({ Bucket: this.bucket, Prefix: key, MaxKeys: 1 }));
      return !(out.Contents ?? []).some((o) => o.Key === key);
    } catch {
      return false;
    }
  }

  async getText(key: string): Promise<string | undefined> {
    try {
      const out = await this.s3client.send(new (s3Sdk().GetObjectCommand)({ Bucket: this.bucket, Key: key }));
      return await (out.Body as { transformToString(): Promise<string> }).transformToString();
    } catch (e) {
      if (await this.missing(e, key)) return undefined;
      throw e;
    }
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    const text = await this.getText(key);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  // ------------------------------------------------------------ read side (the API)

  /** Log text in production order from after `cursor`; call again with the returned cursor to follow a running job. */
  async readLogs(jobId: string, query: LogQuery = {}): Promise<LogPage> {
    for (const [field, v] of [
      ['phase', query.phase],
      ['operation', query.operation],
    ] as const) {
      if (v !== undefined && !segment.test(v)) throw new ValidationError(`invalid ${field}`, [{ path: field, message: 'lowercase letters only' }]);
    }
    if (query.operation && !query.phase) throw new ValidationError('operation needs phase', [{ path: 'phase', message: 'required with operation' }]);
    const after = decodeLogCursor(query.cursor);
    let prefix = artifactKeys.logPrefix(jobId);
    if (query.phase) prefix += `${query.phase}/`;
    if (query.operation) prefix += `${query.operation}/`;

    // List everything under the prefix and order it by phase/operation/seq: S3 lists alphabetically ("plan" < "refresh").
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const out = await this.s3client.send(new (s3Sdk().ListObjectsV2Command)({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of out.Contents ?? []) if (o.Key && parseLogChunkKey(o.Key)) keys.push(o.Key);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    keys.sort(compareLogKeys);
    const pending = after ? keys.filter((k) => compareLogKeys(k, after) > 0) : keys;

    const maxBytes = query.maxBytes ?? DEFAULT_LOG_PAGE_BYTES;
    const parts: Buffer[] = [];
    let size = 0;
    let last = after;
    for (const key of pending) {
      if (parts.length > 0 && size >= maxBytes) break;
      const out = await this.s3client.send(new (s3Sdk().GetObjectCommand)({ Bucket: this.bucket, Key: key }));
      const bytes = Buffer.from(await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
      parts.push(bytes);
      size += bytes.length;
      last = key;
    }
    // The runner cuts chunks on UTF-8 character boundaries, so each page decodes on its own.
    return { text: Buffer.concat(parts).toString('utf8'), chunks: parts.length, ...(last ? { cursor: encodeLogCursor(last) } : {}) };
  }

  /** The plan summary and a short-lived link to the full plan JSON; undefined when no plan was saved. */
  async getPlan(jobId: string): Promise<PlanView | undefined> {
    const stored = await this.getJson<StoredPlanSummary>(artifactKeys.planSummary(jobId));
    if (!stored) return undefined;
    try {
      await this.s3client.send(new (s3Sdk().HeadObjectCommand)({ Bucket: this.bucket, Key: artifactKeys.planJson(jobId) }));
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
    const planUrl = await s3PresignSdk().getSignedUrl(
      this.s3client,
      new (s3Sdk().GetObjectCommand)({ Bucket: this.bucket, Key: artifactKeys.planJson(jobId) }),
      {
        expiresIn: this.presignSeconds,
      },
    );
    return { ...stored, planUrl, planUrlExpiresAt: new Date(this.now().getTime() + this.presignSeconds * 1000).toISOString() };
  }

  /** The job's outputs with sensitive values masked; undefined when the job produced none (yet). */
  async getRefreshDocument(jobId: string): Promise<Record<string, unknown> | undefined> {
    return this.getJson<Record<string, unknown>>(artifactKeys.refreshJson(jobId));
  }

  async getPlanDocument(jobId: string): Promise<Record<string, unknown> | undefined> {
    return this.getJson<Record<string, unknown>>(artifactKeys.planJson(jobId));
  }

  async getOutputs(jobId: string): Promise<OutputValues | undefined> {
    const outputs = await this.getJson<OutputValues>(artifactKeys.outputs(jobId));
    return outputs && maskOutputs(outputs);
  }
}
