/** Secrets Manager behind the SecretSource port. Values are returned to the caller only; never logged or stored. */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { systemClock, type Clock } from '../../domain/ids';
import type { SecretSource } from '../../domain/ports';
import { clientOf, secretsSdk, type ClientRef } from './sdk';

export class SecretsManagerSource implements SecretSource {
  constructor(private readonly client: ClientRef<SecretsManagerClient>) {}

  async get(ref: string): Promise<string> {
    const out = await clientOf(this.client).send(new (secretsSdk().GetSecretValueCommand)({ SecretId: ref }));
    if (out.SecretString === undefined) throw new Error(`secret ${ref} has no string value`);
    return out.SecretString;
  }

  async previous(ref: string): Promise<string | undefined> {
    try {
      const out = await clientOf(this.client).send(new (secretsSdk().GetSecretValueCommand)({ SecretId: ref, VersionStage: 'AWSPREVIOUS' }));
      return out.SecretString;
    } catch (e) {
      // A secret never rotated (or put once) has no version staged AWSPREVIOUS: Secrets Manager answers not found.
      if ((e as Error).name === 'ResourceNotFoundException') return undefined;
      throw e;
    }
  }
}

/** Secrets rotate rarely; re-reading every 5 minutes picks up a rotation without a call per request. */
export const SECRET_CACHE_MS = 5 * 60 * 1000;

/** Reads a secret at most once per SECRET_CACHE_MS; a failed read is not cached. */
export function cachedSecret(source: SecretSource, ref: string, clock: Clock = systemClock): () => Promise<string> {
  let value: { v: string; at: number } | undefined;
  return async () => {
    const now = clock.now().getTime();
    if (!value || now - value.at > SECRET_CACHE_MS) value = { v: await source.get(ref), at: now };
    return value.v;
  };
}
