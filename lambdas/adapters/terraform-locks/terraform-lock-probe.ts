/**
 * The StateLockProbe: Terraform's lock on a state, where the backend keeps it. S3 backends: the `<key>.tflock` object
 * and, when the backend names a lock table, the table's `<bucket>/<key>` item (the runner configures one of the two;
 * a run outside Stack Jobs may have used either). Local backends: the `.lock.info` file beside the state.
 */
import { BackendUnavailableError, DomainError } from '../../domain/errors';
import type { ForceUnlockOutcome, SecretSource, StateLockProbe, TerraformStateLock } from '../../domain/ports';
import type { BackendCredential } from '../../domain/schemas';
import { backendClientConfig, defaultBackendClientFactories, describeFailure, isTransient, type BackendClientFactories } from '../aws/backend-clients';
import { readLockTableItem } from './dynamodb-lock-item';
import { LocalLockFiles } from './local-lock-file';
import type { FoundLock } from './lock-info';
import { readS3LockObject } from './s3-lock-object';

type Finder = () => Promise<FoundLock[]>;

/** Of two locks on one state, the one in the store the runner configures (the lock table when the backend names one). */
function preferred(backend: BackendCredential, found: FoundLock[]): FoundLock | undefined {
  const runnerStore = backend.type === 'local' ? 'local-file' : backend.config.lockTable ? 'dynamodb-item' : 's3-object';
  return found.find((f) => f.lock.store === runnerStore) ?? found[0];
}

export class TerraformLockProbe implements StateLockProbe {
  constructor(
    private readonly secrets: SecretSource,
    private readonly factories: BackendClientFactories = defaultBackendClientFactories,
    private readonly local: LocalLockFiles = new LocalLockFiles(),
  ) {}

  async read(backend: BackendCredential, stateKey: string): Promise<TerraformStateLock | undefined> {
    return this.withLocks(backend, stateKey, async (find) => preferred(backend, await find())?.lock);
  }

  async forceUnlock(backend: BackendCredential, stateKey: string, lockId: string): Promise<ForceUnlockOutcome> {
    return this.withLocks(backend, stateKey, async (find) => {
      const found = await find();
      const match = found.find((f) => f.lock.id === lockId);
      if (!match) {
        const other = preferred(backend, found);
        return other ? { status: 'mismatch', lock: other.lock } : { status: 'none' };
      }
      // Deleting the info file of a local lock a live process holds would release nothing.
      if (match.lock.store === 'local-file' && match.lock.held) return { status: 'held', lock: match.lock };
      if (await match.remove()) return { status: 'released', lock: match.lock };
      // It changed between the read and the delete: say what is there now.
      const now = preferred(backend, await find());
      return now ? { status: 'mismatch', lock: now.lock } : { status: 'none' };
    });
  }

  /** Runs `use` with a finder over this backend's lock stores; failures that are not transient say which store and why. */
  private async withLocks<T>(backend: BackendCredential, stateKey: string, use: (find: Finder) => Promise<T>): Promise<T> {
    if (backend.type === 'local') {
      try {
        return await use(() => this.local.find(backend, stateKey));
      } catch (e) {
        if (e instanceof DomainError) throw e;
        throw new BackendUnavailableError(
          `Terraform's lock beside ${stateKey} under ${backend.config.path} could not be read or removed (${(e as NodeJS.ErrnoException).code ?? (e as Error).name})`,
        );
      }
    }
    const { bucket, lockTable, endpoint } = backend.config;
    if (!bucket) throw new BackendUnavailableError(`backend ${backend.id} names no bucket`);
    const clientConfig = await backendClientConfig(backend, this.secrets);
    if ('problem' in clientConfig) throw new BackendUnavailableError(clientConfig.problem);
    const s3 = this.factories.s3({ ...clientConfig.config, forcePathStyle: Boolean(endpoint) });
    const dynamo = lockTable ? this.factories.dynamo(clientConfig.config) : undefined;
    const find: Finder = async () =>
      (
        await Promise.all([readS3LockObject(s3, bucket, stateKey), dynamo && lockTable ? readLockTableItem(dynamo, lockTable, bucket, stateKey) : undefined])
      ).filter((f): f is FoundLock => f !== undefined);
    try {
      return await use(find);
    } catch (e) {
      if (e instanceof DomainError || isTransient(e)) throw e;
      const stores = `object ${bucket}/${stateKey}.tflock` + (lockTable ? ` or lock table ${lockTable}` : '');
      const grant = backend.secretRef
        ? ''
        : `; without a backend secret the bucket must be in stackjobs:stateBucketNames${lockTable ? ' and the table in stackjobs:stateLockTableNames' : ''}`;
      throw new BackendUnavailableError(`Terraform's lock (${stores}) could not be read or removed: ${describeFailure(e)}${grant}`);
    } finally {
      s3.destroy();
      dynamo?.destroy();
    }
  }
}
