/**
 * What the phase logic asks of an IaC engine. Each tool has one driver (drivers/<tool>/driver.ts) that owns its
 * commands, its state semantics, its plan summariser and drift reader, and its output reader; phases.ts never
 * asks which tool it runs.
 *
 * The state rule every driver keeps: only `applyPlan` (the approved plan) and `applyDirect` (a policy without a
 * preview) may write state. `refresh` and `plan` look; a rejected, cancelled or failed-before-apply job leaves the
 * state byte-identical.
 */
import type { OutputValues } from '../../../lambdas/adapters/s3/artifact-store';
import type { Drift, PlanSummary, Provisioner, StackJob } from '../../../lambdas/domain/schemas';
import type { Exec } from '../command';
import type { RunnerConfig } from '../config';

export interface PlanOutcome {
  hasChanges: boolean;
  summary: PlanSummary;
  /** What the plan's own refresh found (Terraform, OpenTofu: its `resource_drift`); absent when it did not refresh or cannot say. */
  drift?: DriftFound;
}

export interface ApplyOutcome {
  /** From the tool's own report of what it did, when it gives one. */
  hasChanges?: boolean;
}

/** What a refresh found changed outside Stack Jobs: resources with the actions that would record it. */
export type DriftFound = Omit<Drift, 'checkedAt'>;

export interface DriverPaths {
  /** The binary plan file the tool writes at plan. */
  planFile: string;
  /** The verified plan file applyPlan runs (the runner's copy, never the tool's to change). */
  appliedPlanFile: string;
  /** The plan as JSON (stdout of `show -json` / `preview --json`), never logged. */
  planJsonFile: string;
  /** The refresh's own plan (Terraform) or preview JSON (Pulumi): read for drift, never applied, never uploaded. */
  refreshFile: string;
  refreshJsonFile: string;
  outputsFile: string;
}

export interface DriverContext {
  job: StackJob;
  /** The module's working directory inside the clone. */
  moduleDir: string;
  /** Where the runner writes files the module must not see in its tree (the Terraform var file). */
  configDir: string;
  /** `-backend-config` values (Terraform/OpenTofu). */
  backendConfig: string[];
  /** The state backend URL (Pulumi). */
  pulumiBackendUrl: string;
  paths: DriverPaths;
  config: RunnerConfig;
}

export interface IacDriver {
  readonly bin: string;
  /** Writes the module's configuration (var file or stack config); returns nothing the log may not see. */
  configure(): Promise<void>;
  init(exec: Exec): Promise<void>;
  /** Compares state with the real infrastructure and reports the difference; writes nothing. */
  refresh(exec: Exec): Promise<DriftFound>;
  /**
   * Plans against state refreshed in memory (`refresh: false` when the policy skips refresh) and writes the saved
   * plan and its JSON to the paths.
   */
  plan(exec: Exec, options: { destroy: boolean; refresh: boolean }): Promise<PlanOutcome>;
  /** Applies exactly the saved plan file. */
  applyPlan(exec: Exec, options: { destroy: boolean }): Promise<ApplyOutcome>;
  /** No preview in the policy: apply (or destroy) what the configuration says now. */
  applyDirect(exec: Exec, options: { destroy: boolean; refresh: boolean }): Promise<ApplyOutcome>;
  outputs(exec: Exec): Promise<OutputValues>;
  /** The plan JSON people may download: every value the tool marks sensitive masked. */
  downloadablePlan(plan: Record<string, unknown>): Record<string, unknown>;
}

/** One registered tool: the binary it runs (known before the module is cloned) and how to make its driver. */
export interface DriverFactory {
  bin(config: RunnerConfig): string;
  /**
   * Whether everything `init` makes lives in the module directory (Terraform and OpenTofu: `.terraform/` and
   * `.terraform.lock.hcl`), so an update may restore the preview's workspace instead of cloning and initialising again.
   * Pulumi's login and stack selection live in its home and backend, so it initialises again.
   */
  reusesWorkspace: boolean;
  create(ctx: DriverContext): IacDriver;
}

export type DriverRegistry = Record<Provisioner, DriverFactory>;
