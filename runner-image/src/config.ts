/** The runner's environment contract (runner-image/README.md), read once and validated; a bad value fails fast by name. */
import { tmpdir } from 'node:os';
import * as z from '../../lambdas/shared/zod';
import { readConfig } from '../../lambdas/shared/config';

const seconds = (def: number) => z.coerce.number().positive().default(def);

export const runnerConfigSchema = z.object({
  STACKJOBS_JOB_ID: z.string().regex(/^sj_[0-9a-hjkmnp-tv-z]{26}$/, 'a stack job id (sj_ + lowercase ULID)'),
  STACKJOBS_PHASE: z.enum(['preview', 'update']),
  // 'true' for a job that never pauses: the preview goes on to apply its own plan in this task (one start, clone, init).
  STACKJOBS_THEN_UPDATE: z.preprocess((v) => (v === '' ? undefined : v), z.enum(['true', 'false']).default('false')),
  STACKJOBS_TASK_TOKEN: z.string().min(1),
  STACKJOBS_JOBS_TABLE: z.string().min(1),
  STACKJOBS_ARTIFACTS_BUCKET: z.string().min(1),
  // The state machine's Skip Preview state passes '' (no preview ran): empty means absent. The update still refuses
  // to apply when the job's policy previews and no digest came (phases.ts verifyPlan).
  STACKJOBS_PLAN_DIGEST: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'a hex SHA-256')
      .optional(),
  ),
  STACKJOBS_HEARTBEAT_SECONDS: seconds(60),
  STACKJOBS_GRACE_SECONDS: seconds(30),
  STACKJOBS_OPERATION_TIMEOUT_SECONDS: seconds(3600),
  STACKJOBS_WORK_DIR: z.string().min(1).default(tmpdir()),
  STACKJOBS_TERRAFORM_BIN: z.string().min(1).default('terraform'),
  STACKJOBS_TOFU_BIN: z.string().min(1).default('tofu'),
  STACKJOBS_PULUMI_BIN: z.string().min(1).default('pulumi'),
  // The deployment's id: with the job's org it gives the STS ExternalId of the org's provider roles (never the snapshot's).
  STACKJOBS_DEPLOYMENT_ID: z.string().min(1).optional(),
  // The deployment's state-access role: how an S3 backend without a secret reaches its state (credentials.ts).
  STACKJOBS_STATE_ROLE_ARN: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z
      .string()
      .regex(/^arn:aws[\w-]*:iam::\d{12}:role\/.+$/, 'an IAM role ARN')
      .optional(),
  ),
  STACKJOBS_LOG_CHUNK_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .max(5 << 20)
    .default(1 << 20),
  STACKJOBS_LOG_FLUSH_SECONDS: seconds(5),
  // Hardening (runner-image/README.md, Security notes): run the tool under this uid/gid when the runner is root.
  STACKJOBS_TOOL_UID: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(1).optional()),
  STACKJOBS_TOOL_GID: z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(1).optional()),
  // Local mode: the state directory of local backends, in which each stack's directory is given to its tool's uid.
  STACKJOBS_LOCAL_STATE_ROOT: z.preprocess((v) => (v === '' ? undefined : v), z.string().startsWith('/').optional()),
});
export type RunnerConfig = z.infer<typeof runnerConfigSchema>;

export function readRunnerConfig(env: NodeJS.ProcessEnv = process.env): RunnerConfig {
  return readConfig(runnerConfigSchema, env);
}
