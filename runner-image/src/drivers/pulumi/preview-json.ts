/**
 * Reads `pulumi preview --json` (and `refresh --preview-only --json`, `destroy --preview-only --json`) documents:
 * the PlanSummary in the Terraform-shaped counts the job records, the drift a refresh preview found, and the copy
 * people may download with secret values masked. Pure: no I/O.
 */
import { MAX_DRIFT_RESOURCES, type PlanSummary } from '../../../../lambdas/domain/schemas';
import type { DriftFound, PlanOutcome } from '../driver';

/** The parts of the preview JSON the runner reads. */
export interface PulumiPreview {
  steps?: Array<{ op: string; urn: string; detailedDiff?: Record<string, unknown> | null; diffReasons?: string[] | null }>;
  changeSummary?: Record<string, number>;
}

// A replacement shows as replace + create-replacement + delete-replaced: only `replace` is counted, as Pulumi's own
// changeSummary does.
const STEP_COUNTS: Record<string, 'add' | 'change' | 'destroy' | 'replace' | 'unchanged' | 'read' | 'import' | 'forget' | undefined> = {
  create: 'add',
  update: 'change',
  delete: 'destroy',
  replace: 'replace',
  same: 'unchanged',
  read: 'read',
  import: 'import',
  discard: 'forget',
};

const isStack = (urn: string) => urn.includes('::pulumi:pulumi:Stack::');

/** Maps Pulumi step ops onto the summary's counts; the stack resource counts (as in changeSummary) but is not listed. */
export function summarisePulumiPreview(preview: PulumiPreview): PlanOutcome {
  const summary: PlanSummary = { add: 0, change: 0, destroy: 0, replace: 0, unchanged: 0, read: 0, forget: 0, import: 0, outputChanges: 0, resources: [] };
  for (const step of preview.steps ?? []) {
    const key = STEP_COUNTS[step.op];
    if (key) summary[key]++;
    if (key && step.op !== 'same' && !isStack(step.urn)) summary.resources.push({ address: step.urn, actions: [step.op] });
  }
  const hasChanges = summary.add + summary.change + summary.destroy + summary.replace + summary.import + summary.forget > 0;
  return { summary, hasChanges };
}

/** What a refresh preview found: every resource whose refreshed state differs from the stack's (URNs whole: boundDrift cuts them after redaction). */
export function readPulumiDrift(preview: PulumiPreview): DriftFound {
  const drifted = (preview.steps ?? []).filter(
    (s) => !isStack(s.urn) && s.op !== 'same' && (s.op !== 'refresh' || Object.keys(s.detailedDiff ?? {}).length > 0 || (s.diffReasons ?? []).length > 0),
  );
  return {
    total: drifted.length,
    resources: drifted.slice(0, MAX_DRIFT_RESOURCES).map((s) => ({ address: s.urn, actions: [s.op === 'refresh' ? 'update' : s.op] })),
  };
}

/** Pulumi's signature key for a secret value in serialized state ("1b47..." marks a secret, per its resource docs). */
const SIG_KEY = '4dabf18193072939515e22adb298388d';
const SECRET_SIG = '1b47061264138c4ac30d75fd1eb44270';
export const PULUMI_SECRET_MASK = '[secret]';

/** A copy of a preview document with every secret value (plaintext or ciphertext) replaced by "[secret]". */
export function maskPulumiSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskPulumiSecrets);
  if (!value || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  if (obj[SIG_KEY] === SECRET_SIG) return PULUMI_SECRET_MASK;
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, maskPulumiSecrets(v)]));
}
