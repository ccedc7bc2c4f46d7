/** The domain's ports: small interfaces the AWS adapters (and local stand-ins, and test doubles) implement. */
import type { EventDetail, EventType } from './events';
import type { BackendCredential, CatalogKind, DriftSchedule, ProviderCredential, StackJob } from './schemas';

/** The catalog owner of platform-scoped entities; org names cannot start with "_". */
export const PLATFORM_OWNER = '_platform';

export interface CatalogReader {
  /** Every entity of a kind owned by `owner` (an org name, or PLATFORM_OWNER). */
  list(kind: CatalogKind, owner: string): Promise<unknown[]>;
}

export interface CredentialValidation {
  accepted: boolean;
  /** The provider could not be asked (no network, a timeout, its 5xx): nothing was learned about the credential. */
  unreachable?: boolean;
  /** What the provider confirmed, in words a user can act on ("STS GetCallerIdentity: arn:aws:iam::...") */
  detail: string;
}

/** Live validation of a credential with its provider (AWS: STS with the stored material). */
export interface CredentialValidator {
  readonly provider: string;
  validate(credential: ProviderCredential): Promise<CredentialValidation>;
}

export interface BackendProbeResult {
  reachable: boolean;
  detail: string;
  /** Undefined when it cannot be known before the run: a local backend's state is files on the runner. */
  stateExists: boolean | undefined;
}

/** Reaches the state backend with its credential: reachability and state presence (its lock: StateLockProbe). */
export interface BackendProbe {
  probe(backend: BackendCredential, stateKey: string): Promise<BackendProbeResult>;
}

/** Where Terraform keeps a state's lock: the S3 `<key>.tflock` object, the lock table's `<bucket>/<key>` item, or the local `.<state>.lock.info` file. */
export type StateLockStore = 's3-object' | 'dynamodb-item' | 'local-file';

/** Terraform's own lock on a state (its LockInfo document), not the stack lease. */
export interface TerraformStateLock {
  /** The id `terraform force-unlock` takes. */
  id: string;
  /** e.g. OperationTypeApply */
  operation?: string;
  /** user@host of the process that took it */
  who: string;
  /** When it was taken (RFC 3339, as Terraform writes it). */
  created?: string;
  path?: string;
  store: StateLockStore;
  /**
   * Whether it binds the next run. S3 and DynamoDB locks do until deleted. A local lock is an OS lock that ends with
   * its process, so the info file a killed run leaves binds nobody (false); undefined: cannot be told on this system.
   */
  held?: boolean;
}

/** `held`: a live process holds the (local) lock; deleting its info would not release it. */
export type ForceUnlockOutcome =
  | { status: 'released'; lock: TerraformStateLock }
  | { status: 'mismatch'; lock: TerraformStateLock }
  | { status: 'held'; lock: TerraformStateLock }
  | { status: 'none' };

/** Reads and force-unlocks Terraform's lock on a state, where the backend keeps it. */
export interface StateLockProbe {
  read(backend: BackendCredential, stateKey: string): Promise<TerraformStateLock | undefined>;
  /** Deletes the lock only while its id is `lockId` (a conditional delete), as `terraform force-unlock LOCK_ID` does. */
  forceUnlock(backend: BackendCredential, stateKey: string, lockId: string): Promise<ForceUnlockOutcome>;
}

/** A module's repository and the branch or tag a job would clone. */
export interface ModuleRef {
  gitRepo: string;
  ref: string;
  gitTokenSecretRef?: string;
}

/** `found`: the ref exists; `missing`: the repository answered without it; `unreachable`: no answer (detail says why). */
export type ModuleRefResult =
  { status: 'found' } | { status: 'missing'; detail: string } | { status: 'unreachable'; detail: string } | { status: 'unchecked'; detail: string };

/** Asks the module's repository whether a branch or tag exists (`git ls-remote`), with the module's token if any. */
export interface ModuleRefProbe {
  probe(module: ModuleRef): Promise<ModuleRefResult>;
}

export interface StackLease {
  stackKey: string;
  ownerJobId: string;
  fencingToken: number;
  expiresAt: string;
}

export interface StackLockReader {
  getLease(stackKey: string): Promise<StackLease | undefined>;
}

/** A stack's jobs, read-only. */
export interface StackJobLister {
  /** Every job of one stack, finished ones included, oldest first. */
  listStack(stackKey: string): Promise<StackJob[]>;
}

/** Starts the state machine execution for a job; starting one that already exists for the job is success. */
/** Whether a job's workflow execution is still running (Step Functions DescribeExecution on the execution named after it). */
export interface ExecutionInspector {
  /** false when it ended or never existed (Step Functions forgets executions 90 days after they end). */
  isRunning(jobId: string): Promise<boolean>;
}

export interface ExecutionStarter {
  start(job: StackJob): Promise<void>;
}

/** Reads secret material by reference (Secrets Manager in AWS, the local config's `secrets` in local mode). */
export interface SecretSource {
  get(ref: string): Promise<string>;
  /**
   * The value the secret had before its last rotation (Secrets Manager's AWSPREVIOUS stage), or undefined when it has
   * none. Never used as a credential: the runner only redacts it, since state and plans still hold values set with it.
   */
  previous?(ref: string): Promise<string | undefined>;
}

/** Publishes domain events (EventBridge in AWS; kept for GET /v1/events in local mode). Details carry no secrets. */
export interface EventPublisher {
  publish<T extends EventType>(detailType: T, detail: EventDetail<T>): Promise<void>;
}

/**
 * Keeps what runs drift schedules in step with the catalog: EventBridge Scheduler on AWS (one schedule per drift
 * schedule, adapters/aws/drift-schedules.ts). Called by the catalog routes after their write. Local mode's scheduler
 * reads the catalog itself and needs none.
 */
export interface DriftScheduleSync {
  /** After a drift schedule was created (`replaced` false) or replaced in the catalog. */
  put(org: string, schedule: DriftSchedule, replaced: boolean): Promise<void>;
  /** After it was deleted; one that is not there is no error (a retried DELETE, or one whose first attempt failed after the catalog write). */
  delete(org: string, scheduleId: string): Promise<void>;
}
