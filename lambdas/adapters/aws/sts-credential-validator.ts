/**
 * Live validation of AWS credentials: STS GetCallerIdentity with the stored material, or AssumeRole when the
 * credential is a role. The material is read here and handed to STS only; it never reaches a message.
 */
import type { STSClient, STSClientConfig } from '@aws-sdk/client-sts';
import { stsSdk } from './sdk';
import * as z from '../../shared/zod';
import type { CredentialValidation, CredentialValidator, SecretSource } from '../../domain/ports';
import { externalIdFor } from '../../domain/external-id';
import type { ProviderCredential } from '../../domain/schemas';

export const awsSecretMaterialSchema = z.object({ accessKeyId: z.string().min(1), secretAccessKey: z.string().min(1), sessionToken: z.string().optional() });

/** Builds the STS client a check uses; injected so tests (and local mode) can point it elsewhere. */
export type StsFactory = (config: STSClientConfig) => STSClient;

export class StsCredentialValidator implements CredentialValidator {
  readonly provider = 'aws';

  constructor(
    private readonly secrets: SecretSource,
    /** The deployment's id: with the credential's org it gives the ExternalId (domain/external-id.ts). */
    private readonly deploymentId: string,
    private readonly stsFor: StsFactory = (config) => new (stsSdk().STSClient)(config),
  ) {}

  async validate(credential: ProviderCredential): Promise<CredentialValidation> {
    let credentials: z.infer<typeof awsSecretMaterialSchema> | undefined;
    if (credential.secretRef) {
      let raw: string;
      try {
        raw = await this.secrets.get(credential.secretRef);
      } catch (e) {
        return { accepted: false, detail: `could not read secret ${credential.secretRef}: ${(e as Error).name}` };
      }
      const parsed = awsSecretMaterialSchema.safeParse(safeJson(raw));
      // Never echo the secret's content: say only which shape was expected.
      if (!parsed.success) return { accepted: false, detail: `secret ${credential.secretRef} is not JSON {accessKeyId, secretAccessKey, sessionToken?}` };
      credentials = parsed.data;
    }
    const sts = this.stsFor(credentials ? { credentials } : {});
    try {
      if (credential.roleArn) {
        const out = await sts.send(
          new (stsSdk().AssumeRoleCommand)({
            RoleArn: credential.roleArn,
            RoleSessionName: 'stackjobs-preflight',
            DurationSeconds: 900,
            ExternalId: externalIdFor(this.deploymentId, credential.org),
          }),
        );
        return { accepted: true, detail: `STS AssumeRole accepted: ${out.AssumedRoleUser?.Arn ?? credential.roleArn}` };
      }
      if (!credentials) return { accepted: false, detail: `credential ${credential.id} has neither secretRef nor roleArn` };
      const out = await sts.send(new (stsSdk().GetCallerIdentityCommand)({}));
      return { accepted: true, detail: `STS GetCallerIdentity accepted: ${out.Arn} (account ${out.Account})` };
    } catch (e) {
      const err = e as Error & { $metadata?: { httpStatusCode?: number } };
      const call = `STS ${credential.roleArn ? 'AssumeRole' : 'GetCallerIdentity'}`;
      if (err.$metadata?.httpStatusCode && err.$metadata.httpStatusCode < 500)
        return { accepted: false, detail: `${call} rejected the credential: ${err.name}` };
      // STS answered with its own failure (throttling, 5xx) after the SDK's retries: transient, the caller retries.
      if (err.$metadata?.httpStatusCode) throw e;
      // No answer at all (DNS, connection refused, timeout; offline): a check result that says so, by name only.
      const code = (err as { code?: string }).code ?? (err.cause as { code?: string } | undefined)?.code;
      return { accepted: false, unreachable: true, detail: `${call} could not be reached (${code ?? err.name})` };
    } finally {
      sts.destroy();
    }
  }
}

function safeJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}
