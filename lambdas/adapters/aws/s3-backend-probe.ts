/**
 * Probes a Terraform/OpenTofu S3 state backend with the backend's own credential: HeadBucket (reachable) and
 * HeadObject on the state key (exists). Terraform's lock on the state is read by the StateLockProbe
 * (adapters/terraform-locks/).
 */
import type { BackendProbe, BackendProbeResult, SecretSource } from '../../domain/ports';
import type { BackendCredential } from '../../domain/schemas';
import { backendClientConfig, defaultBackendClientFactories, describeFailure, httpStatusOf, isTransient, type BackendClientFactories } from './backend-clients';
import { s3Sdk } from './sdk';

export class S3BackendProbe implements BackendProbe {
  constructor(
    private readonly secrets: SecretSource,
    private readonly factories: BackendClientFactories = defaultBackendClientFactories,
  ) {}

  async probe(backend: BackendCredential, stateKey: string): Promise<BackendProbeResult> {
    try {
      return await this.probeOnce(backend, stateKey);
    } catch (e) {
      // A probe that could not finish is a failed check that says why (by error name), never a 500 for the caller.
      if (isTransient(e)) throw e;
      return { reachable: false, stateExists: false, detail: `backend ${backend.id} could not be checked: ${describeFailure(e)}` };
    }
  }

  private async probeOnce(backend: BackendCredential, stateKey: string): Promise<BackendProbeResult> {
    if (backend.type === 'local') {
      return {
        reachable: true,
        stateExists: undefined,
        detail: 'local backend (files on the runner): reachability and state cannot be checked before the run',
      };
    }
    const { bucket, endpoint } = backend.config;
    const clientConfig = await backendClientConfig(backend, this.secrets);
    if ('problem' in clientConfig) return { reachable: false, stateExists: false, detail: clientConfig.problem };
    const s3 = this.factories.s3({ ...clientConfig.config, forcePathStyle: Boolean(endpoint) });
    try {
      try {
        await s3.send(new (s3Sdk().HeadBucketCommand)({ Bucket: bucket }));
      } catch (e) {
        const status = httpStatusOf(e);
        if (status === 404) return { reachable: false, stateExists: false, detail: `bucket ${bucket} does not exist` };
        if (status === 403) return { reachable: false, stateExists: false, detail: `access to bucket ${bucket} denied for the backend credential` };
        throw e;
      }
      const stateExists = await s3.send(new (s3Sdk().HeadObjectCommand)({ Bucket: bucket, Key: stateKey })).then(
        () => true,
        (e) => (httpStatusOf(e) === 404 ? false : Promise.reject(e)),
      );
      return { reachable: true, stateExists, detail: `bucket ${bucket} reachable` };
    } finally {
      s3.destroy();
    }
  }
}
