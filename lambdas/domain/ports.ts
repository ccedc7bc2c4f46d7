/** The domain's ports: small interfaces the AWS adapters (and local stand-ins, and test doubles) implement. */
import type { BackendCredential, CatalogKind, ProviderCredential, StackJob } from './schemas';

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

export interface StateLockInfo {
  holder: string;
  since?: string;
  operation?: string;
  lockId?: string;
}

export interface BackendProbeResult {
  reachable: boolean;
  detail: string;
  stateExists: boolean;
  lock?: StateLockInfo;
}

/** Reaches the state backend with its credential: reachability, state presence, Terraform state lock. */
export interface BackendProbe {
  probe(backend: BackendCredential, stateKey: string): Promise<BackendProbeResult>;
}

/** A module's repository and the branch or tag a job would clone. */
export interface ModuleRef {
  gitRepo: string;
  ref: string;
  gitTokenSecretRef?: string;
}

/** `found`: the ref exists; `missing`: the repository answered without it; `unreachable`: no answer (detail says why). */
export type ModuleRefResult = { status: 'found' } | { status: 'missing'; detail: string } | { status: 'unreachable'; detail: string } | { status: 'unchecked'; detail: string };

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

/** Starts the state machine execution for a job; starting one that already exists for the job is success. */
export interface ExecutionStarter {
  start(job: StackJob): Promise<void>;
}

/** Reads secret material by reference (Secrets Manager in AWS, the local config's `secrets` in local mode). */
export interface SecretSource {
  get(ref: string): Promise<string>;
}

/** Publishes domain events (EventBridge in AWS; kept for GET /v1/events in local mode). Details carry no secrets. */
export interface EventPublisher {
  publish(detailType: string, detail: Record<string, unknown>): Promise<void>;
}
