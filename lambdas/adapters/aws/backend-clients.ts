/**
 * SDK clients for one state backend, made with the backend's own credential (its secret) or, without one, the
 * function's role; its region and endpoint. Made per call: each backend has its own credential and region.
 */
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import type { SecretSource } from '../../domain/ports';
import type { BackendCredential } from '../../domain/schemas';
import { s3Sdk } from './sdk';
import { awsSecretMaterialSchema } from './sts-credential-validator';

export interface BackendClientFactories {
  s3: (config: S3ClientConfig) => S3Client;
  dynamo: (config: DynamoDBClientConfig) => DynamoDBClient;
}

export const defaultBackendClientFactories: BackendClientFactories = { s3: (c) => new (s3Sdk().S3Client)(c), dynamo: (c) => new DynamoDBClient(c) };

/** The HTTP status of an SDK error, when the service answered. */
export const httpStatusOf = (e: unknown) => (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

/** The service's own failure (5xx, throttling) after the SDK's retries: transient, so the caller's caller retries. */
export function isTransient(e: unknown): boolean {
  const status = httpStatusOf(e);
  return Boolean(status && status >= 500) || /Throttl|SlowDown/.test((e as Error).name);
}

/** Says why a backend call failed, by status and error name, never with credential material. */
export function describeFailure(e: unknown): string {
  const err = e as Error & { code?: string };
  const status = httpStatusOf(e);
  if (status === 403 || err.name === 'AccessDeniedException') return `access denied (${err.name})`;
  return status ? `${err.name} (HTTP ${status})` : `not reachable (${err.code ?? err.name})`;
}

/** The client settings for an S3 backend, or what is wrong with its secret. */
export async function backendClientConfig(
  backend: BackendCredential,
  secrets: SecretSource,
): Promise<{ config: DynamoDBClientConfig & S3ClientConfig } | { problem: string }> {
  const { region, endpoint } = backend.config;
  let credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  if (backend.secretRef) {
    const raw = await secrets.get(backend.secretRef).catch(() => undefined);
    if (raw === undefined) return { problem: `backend secret ${backend.secretRef} is missing or could not be read` };
    // JSON.parse's SyntaxError quotes the start of its input, here the secret itself: the problem names the reference only.
    const json = parsedJson(raw);
    if (json === undefined)
      return { problem: `backend secret ${backend.secretRef} is not valid JSON (expected {accessKeyId, secretAccessKey, sessionToken?})` };
    const parsed = awsSecretMaterialSchema.safeParse(json);
    if (!parsed.success) return { problem: `backend secret ${backend.secretRef} is not JSON {accessKeyId, secretAccessKey, sessionToken?}` };
    credentials = parsed.data;
  }
  return { config: { region, ...(credentials ? { credentials } : {}), ...(endpoint ? { endpoint } : {}) } };
}

/** The JSON value of a secret, or undefined when it is not JSON; never throws, so no parser message can quote the secret. */
function parsedJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}
