/**
 * The events Stack Jobs publishes on its bus (source `stackjobs`), declared once: each detail-type with the shape of its
 * `detail`. The publisher checks every detail against its shape before it sends (adapters/aws/event-publisher.ts), so
 * what the README's Events table promises is what subscribers get. No detail ever carries a token or a secret.
 */
import * as z from '../shared/zod';
import { endingReasonSchema } from './endings';
import { checkResultSchema, jobPhaseSchema, jobResultSchema, triggerEventSchema } from './schemas';

const jobIdentity = {
  jobId: z.string(),
  org: z.string(),
  env: z.string(),
  resourceId: z.string(),
};

export const EVENT_DETAILS = {
  /** Every change of a job's phase or result; a completed job's event carries its reason. */
  'Stack Job Status Changed': z
    .object({
      ...jobIdentity,
      phase: jobPhaseSchema,
      result: jobResultSchema,
      reason: endingReasonSchema.optional(),
      failedOperation: z.string().optional(),
      /** The approval the job asked for (Slack messages are closed by it when the job ends). */
      approvalId: z.string().optional(),
    })
    .strict(),
  /** An approver decided (API or Slack); the update runs only after an approval. */
  'Stack Job Approval Decided': z
    .object({
      ...jobIdentity,
      approvalId: z.string(),
      decision: z.enum(['approved', 'rejected']),
      by: z.string(),
      channel: z.enum(['api', 'slack']),
      planDigest: z.string().optional(),
    })
    .strict(),
  /** A cancel that the workflow carries out (a running preview is stopped) or records (an update is never interrupted). */
  'Stack Job Cancel Requested': z
    .object({
      ...jobIdentity,
      phase: jobPhaseSchema,
      action: z.enum(['runner_stopped', 'recorded_update_continues']),
      by: z.string(),
    })
    .strict(),
  /** A change event that never became a job: invalid, or its pre-flight failed. */
  'Stack Job Rejected': z
    .object({
      eventId: z.string(),
      /** version_conflict: the same resource version was already submitted with a different change (errors says how). */
      reason: z.enum(['invalid', 'preflight_failed', 'version_conflict']),
      org: z.string().optional(),
      env: z.string().optional(),
      resourceId: z.string().optional(),
      versionId: z.string().optional(),
      triggerEvent: triggerEventSchema.optional(),
      errors: z.array(z.object({ path: z.string(), message: z.string() }).strict()).optional(),
      checks: z.array(checkResultSchema).optional(),
    })
    .strict(),
  /** A drift check found resources changed outside Stack Jobs (the resource status's `drift` has the same list). */
  'Stack Drift Detected': z
    .object({
      ...jobIdentity,
      checkedAt: z.string(),
      /** How many resources drifted; `resources` lists at most 100 of them. */
      total: z.number().int().min(1),
      resources: z.array(z.object({ address: z.string(), actions: z.array(z.string()) }).strict()),
      /** `plan`: a change job from the last applied version is submitted to bring the resource back (it waits for approval like any change). */
      remediate: z.enum(['none', 'plan']),
      scheduleId: z.string().optional(),
    })
    .strict(),
  /** An org admin released Terraform's own state lock through the API (a lock a killed tool left behind). */
  'Stack Terraform Lock Released': z
    .object({
      org: z.string(),
      env: z.string(),
      resourceId: z.string(),
      stateKey: z.string(),
      lockId: z.string(),
      lockWho: z.string(),
      lockOperation: z.string().optional(),
      lockCreated: z.string().optional(),
      /** The job whose run left the lock, when one of the stack's jobs was running when it was taken. */
      leftByJobId: z.string().optional(),
      by: z.string(),
      reason: z.string(),
    })
    .strict(),
} as const;

export type EventType = keyof typeof EVENT_DETAILS;
export type EventDetail<T extends EventType> = z.input<(typeof EVENT_DETAILS)[T]>;

export const STATUS_CHANGED = 'Stack Job Status Changed' satisfies EventType;
export const APPROVAL_DECIDED = 'Stack Job Approval Decided' satisfies EventType;
export const CANCEL_REQUESTED = 'Stack Job Cancel Requested' satisfies EventType;
export const JOB_REJECTED = 'Stack Job Rejected' satisfies EventType;
export const STATE_LOCK_RELEASED = 'Stack Terraform Lock Released' satisfies EventType;
export const DRIFT_DETECTED = 'Stack Drift Detected' satisfies EventType;

/** The detail as it will be sent; throws when it does not have its type's declared shape (a bug, never user input). */
export function checkedDetail<T extends EventType>(detailType: T, detail: EventDetail<T>): Record<string, unknown> {
  const parsed = EVENT_DETAILS[detailType].safeParse(detail);
  if (!parsed.success)
    throw new Error(
      `the ${detailType} event does not have its declared shape: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return parsed.data as Record<string, unknown>;
}
