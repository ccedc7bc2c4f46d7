/** What the phase logic asks of an IaC engine; Terraform and OpenTofu share one driver, Pulumi has its own. */
import type { OutputValues } from '../../../lambdas/adapters/s3/artifact-store';
import type { PlanSummary } from '../../../lambdas/domain/schemas';
import type { Exec } from '../command';

export interface PlanOutcome {
  hasChanges: boolean;
  summary: PlanSummary;
}

export interface ApplyOutcome {
  /** From the tool's own report of what it did, when it gives one. */
  hasChanges?: boolean;
}

export interface DriverPaths {
  /** The binary plan file the digest is computed over. */
  planFile: string;
  /** The plan as JSON (stdout of `show -json` / `preview --json`), never logged. */
  planJsonFile: string;
  outputsFile: string;
}

export interface IacDriver {
  readonly bin: string;
  /** Writes the module's configuration (var file or stack config); returns nothing the log may not see. */
  configure(): Promise<void>;
  init(exec: Exec): Promise<void>;
  refresh(exec: Exec): Promise<void>;
  plan(exec: Exec, options: { destroy: boolean }): Promise<PlanOutcome>;
  /** Applies exactly the saved plan file. */
  applyPlan(exec: Exec, options: { destroy: boolean }): Promise<ApplyOutcome>;
  /** No preview in the policy: apply (or destroy) what the configuration says now. */
  applyDirect(exec: Exec, options: { destroy: boolean }): Promise<ApplyOutcome>;
  outputs(exec: Exec): Promise<OutputValues>;
}
