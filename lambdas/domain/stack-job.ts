/** Freezing a passed pre-flight into the immutable StackJob snapshot, and the keys derived from a job. */
import { createHash } from 'node:crypto';
import { planOperations } from './planner';
import type { PreflightOutcome } from './preflight';
import { stackKeyOf } from './resolution';
import { API_VERSION, type OperationName, type ResourceChange, type StackJob } from './schemas';

/** The same change (org, env, resource, version, trigger) always maps to the same key: submissions are idempotent on it. */
export function idempotencyKeyOf(change: Pick<ResourceChange, 'resource' | 'triggerEvent'>): string {
  const { org, env, id, version } = change.resource;
  return createHash('sha256')
    .update(JSON.stringify([org, env, id, version.id, change.triggerEvent]))
    .digest('hex');
}

export function stackKeyOfJob(job: StackJob): string {
  return stackKeyOf({ org: job.metadata.org, env: job.metadata.env, resourceId: job.spec.apiResourceInfo.id });
}

/** Who submitted or reran `job` and the runs before it: what a job made from it carries on (metadata.submitters). */
export function submittersOf(job: StackJob): string[] {
  return job.metadata.submitters ?? (job.metadata.submittedBy ? [job.metadata.submittedBy] : []);
}

/**
 * Builds the queued job from a change whose pre-flight passed. Throws if called with a failed outcome.
 * `submittedBy` is the authenticated submitter (unlike the change's `createdBy`, which the caller chooses).
 */
export function freezeStackJob(
  change: ResourceChange,
  outcome: PreflightOutcome,
  jobId: string,
  now: Date,
  rerunOf?: string,
  submittedBy?: string,
  /** The submitters of the job this one reruns (its `submitters`, or its `submittedBy`). */
  priorSubmitters: string[] = [],
): StackJob {
  const submitters = [...new Set([...priorSubmitters, ...(submittedBy ? [submittedBy] : [])])].slice(-100);
  const { module, policy, credential, backend, stateKey, runner, runnerPlacement } = outcome.resolved;
  if (!outcome.passed || !module || !backend) throw new Error('freezeStackJob needs a passed pre-flight');
  const at = now.toISOString();
  // Plan policies need a plan: a job any of them matches previews, whatever its flow-control policy says.
  const planPolicies = outcome.resolved.planPolicies ?? [];
  const p = planPolicies.length > 0 ? { ...policy.policy, previewBeforeUpdate: true } : policy.policy;
  const operations = planOperations(change.triggerEvent, p, module.module.provisioner);
  return {
    apiVersion: API_VERSION,
    kind: 'StackJob',
    metadata: {
      id: jobId,
      name: change.resource.id,
      org: change.resource.org,
      env: change.resource.env,
      version: { id: change.resource.version.id, message: change.resource.version.message },
      ...(rerunOf ? { rerunOf } : {}),
      ...(submittedBy ? { submittedBy } : {}),
      ...(submitters.length > 0 ? { submitters } : {}),
    },
    spec: {
      apiResourceInfo: {
        kind: change.kind,
        id: change.resource.id,
        name: change.resource.name,
        versionId: change.resource.version.id,
        triggerEvent: change.triggerEvent,
        eventCreatedBy: change.createdBy,
        spec: change.spec,
      },
      essentials: {
        provisioner: module.module.provisioner,
        iacModule: {
          id: module.module.id,
          gitRepo: module.module.gitRepo,
          branch: module.module.branch,
          path: module.module.path,
          ...(module.module.provider ? { provider: module.module.provider } : {}),
          rule: module.rule,
          ...(module.module.gitTokenSecretRef ? { gitTokenSecretRef: module.module.gitTokenSecretRef } : {}),
        },
        backendCredential: {
          kind: backend.kind,
          id: backend.id,
          type: backend.type,
          config: { ...backend.config },
          stateKey,
          ...(backend.secretRef ? { secretRef: backend.secretRef } : {}),
        },
        ...(credential
          ? {
              providerCredential: {
                kind: credential.kind,
                id: credential.id,
                provider: credential.provider,
                ...(credential.secretRef ? { secretRef: credential.secretRef } : {}),
                ...(credential.roleArn ? { roleArn: credential.roleArn } : {}),
              },
            }
          : {}),
        // The placement is frozen with the job, so a later catalog edit never moves a job that already exists.
        stackJobRunner: { id: runner.id, ...(runner.endpoint ? { endpoint: runner.endpoint } : {}), ...(runnerPlacement ? { ...runnerPlacement } : {}) },
        flowControlPolicy: {
          previewBeforeUpdate: p.previewBeforeUpdate,
          pauseBetweenPreviewAndUpdate: p.pauseBetweenPreviewAndUpdate,
          skipRefresh: p.skipRefresh,
          approvers: p.approvers,
          requireDistinctApprover: p.requireDistinctApprover,
          approvalTimeoutMinutes: p.approvalTimeoutMinutes,
          source: { level: policy.level, id: p.id },
        },
        ...(planPolicies.length > 0 ? { planPolicies } : {}),
      },
      operations,
    },
    status: {
      phase: 'queued',
      result: 'tbd',
      createdAt: at,
      updatedAt: at,
      operations: operations.map((name) => ({ name, status: 'pending', result: 'tbd', errors: [] })),
      preflight: outcome.checks,
    },
  };
}

/**
 * The most a snapshot may weigh to travel in its execution's input (JSON bytes). Step Functions takes 256 KB of
 * input and every stack-lock attempt's payload repeats it, so it rides along only well under that; a heavier one stays
 * in DynamoDB alone, written before its execution starts.
 */
export const EXECUTION_SNAPSHOT_MAX_BYTES = 64 * 1024;

export function snapshotTravelsWithExecution(job: StackJob): boolean {
  return Buffer.byteLength(JSON.stringify(job), 'utf8') <= EXECUTION_SNAPSHOT_MAX_BYTES;
}

/**
 * A drift check made from a frozen change job: operations init and refresh only, a policy that previews and never
 * pauses (so it never asks for approval and runs in one runner task), and what to do when drift is found. It queues
 * for its stack like any job, so it never runs ahead of a change submitted before it.
 */
export function asDriftCheck(job: StackJob, check: NonNullable<StackJob['spec']['driftCheck']>): StackJob {
  const operations: OperationName[] = ['init', 'refresh'];
  const policy = job.spec.essentials.flowControlPolicy;
  // Plan policies check a plan before it is applied: a drift check plans nothing it could apply.
  const { planPolicies: _planPolicies, ...essentials } = job.spec.essentials;
  return {
    ...job,
    spec: {
      ...job.spec,
      essentials: {
        ...essentials,
        flowControlPolicy: { ...policy, previewBeforeUpdate: true, pauseBetweenPreviewAndUpdate: false, skipRefresh: false },
      },
      operations,
      driftCheck: check,
    },
    status: { ...job.status, operations: operations.map((name) => ({ name, status: 'pending', result: 'tbd', errors: [] })) },
  };
}
