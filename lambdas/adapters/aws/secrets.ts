/** Secrets Manager behind the SecretSource port. Values are returned to the caller only; never logged or stored. */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SecretSource } from '../../domain/ports';

export class SecretsManagerSource implements SecretSource {
  constructor(private readonly client: SecretsManagerClient) {}

  async get(ref: string): Promise<string> {
    const out = await this.client.send(new GetSecretValueCommand({ SecretId: ref }));
    if (out.SecretString === undefined) throw new Error(`secret ${ref} has no string value`);
    return out.SecretString;
  }
}
