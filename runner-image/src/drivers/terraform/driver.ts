/**
 * Terraform and OpenTofu: the same CLI contract, a different binary.
 *
 * State: `refresh` is a refresh-only *plan* (never `apply -refresh-only`, which writes the refreshed state, root
 * outputs included, before anyone approved anything); `plan` refreshes in memory and saves the plan; only
 * `apply <saved plan>` and, for a policy without preview, `apply -auto-approve` write state.
 */
import { readFile } from 'node:fs/promises';
import type { OutputValues } from '../../../../lambdas/adapters/s3/artifact-store';
import type { Exec } from '../../command';
import { writeTerraformVars } from '../../module-config';
import type { ApplyOutcome, DriftFound, DriverContext, DriverFactory, IacDriver, PlanOutcome } from '../driver';
import { maskSensitivePlanValues, readDrift, summarisePlan, type ShowJsonPlan } from './plan-json';

/** `plan -detailed-exitcode`: 0 = no changes, 2 = changes, anything else = error. */
const PLAN_OK = [0, 2];
const PLAN_HAS_CHANGES = 2;

export class TerraformDriver implements IacDriver {
  private varFile = '';

  constructor(
    readonly bin: string,
    private readonly ctx: DriverContext,
  ) {}

  private get paths() {
    return this.ctx.paths;
  }

  async configure(): Promise<void> {
    this.varFile = await writeTerraformVars(this.ctx.job, this.ctx.configDir);
  }

  async init(exec: Exec): Promise<void> {
    await exec({ args: ['init', '-input=false', '-no-color', ...this.ctx.backendConfig.map((c) => `-backend-config=${c}`)] });
  }

  async refresh(exec: Exec): Promise<DriftFound> {
    // A refresh-only plan: exit 2 means "the refresh found something" (drift, or outputs that would change); the
    // plan file is read for its drift and thrown away with the workspace.
    await exec({
      args: [
        'plan',
        '-refresh-only',
        '-input=false',
        '-no-color',
        '-json',
        `-out=${this.paths.refreshFile}`,
        '-detailed-exitcode',
        `-var-file=${this.varFile}`,
      ],
      json: true,
      okExitCodes: PLAN_OK,
    });
    await exec({ args: ['show', '-json', '-no-color', this.paths.refreshFile], stdoutFile: this.paths.refreshJsonFile });
    return readDrift(JSON.parse(await readFile(this.paths.refreshJsonFile, 'utf8')) as ShowJsonPlan);
  }

  async plan(exec: Exec, options: { destroy: boolean; refresh: boolean }): Promise<PlanOutcome> {
    const { exitCode } = await exec({
      args: [
        'plan',
        '-input=false',
        '-no-color',
        '-json',
        `-out=${this.paths.planFile}`,
        '-detailed-exitcode',
        ...(options.refresh ? [] : ['-refresh=false']),
        `-var-file=${this.varFile}`,
        ...(options.destroy ? ['-destroy'] : []),
      ],
      json: true,
      okExitCodes: PLAN_OK,
    });
    await exec({ args: ['show', '-json', '-no-color', this.paths.planFile], stdoutFile: this.paths.planJsonFile });
    const planJson = JSON.parse(await readFile(this.paths.planJsonFile, 'utf8')) as ShowJsonPlan;
    const { summary, hasChanges } = summarisePlan(planJson);
    // The exit code is the tool's own verdict; the summary can only add to it (e.g. a moved-only plan). A plan that
    // refreshed lists what its refresh found (`resource_drift`): the drift the job records, without a second refresh.
    return { summary, hasChanges: exitCode === PLAN_HAS_CHANGES || hasChanges, ...(options.refresh ? { drift: readDrift(planJson) } : {}) };
  }

  async applyPlan(exec: Exec): Promise<ApplyOutcome> {
    // A saved plan carries its own variables and destroy mode: no -var-file, no -destroy.
    const { changeSummary } = await exec({ args: ['apply', '-input=false', '-auto-approve', '-no-color', '-json', this.paths.appliedPlanFile], json: true });
    return changeSummary ? { hasChanges: changeSummary.add + changeSummary.change + changeSummary.remove > 0 } : {};
  }

  async applyDirect(exec: Exec, options: { destroy: boolean; refresh: boolean }): Promise<ApplyOutcome> {
    const { changeSummary } = await exec({
      args: [
        'apply',
        '-input=false',
        '-auto-approve',
        '-no-color',
        '-json',
        ...(options.refresh ? [] : ['-refresh=false']),
        `-var-file=${this.varFile}`,
        ...(options.destroy ? ['-destroy'] : []),
      ],
      json: true,
    });
    return changeSummary ? { hasChanges: changeSummary.add + changeSummary.change + changeSummary.remove > 0 } : {};
  }

  async outputs(exec: Exec): Promise<OutputValues> {
    // Output values (sensitive ones included) go to a file, never to the log.
    await exec({ args: ['output', '-json', '-no-color'], stdoutFile: this.paths.outputsFile });
    const raw = (await readFile(this.paths.outputsFile, 'utf8')).trim();
    return raw ? (JSON.parse(raw) as OutputValues) : {};
  }

  downloadablePlan(plan: Record<string, unknown>): Record<string, unknown> {
    return maskSensitivePlanValues(plan);
  }
}

export const terraformDriver: DriverFactory = {
  bin: (config) => config.STACKJOBS_TERRAFORM_BIN,
  reusesWorkspace: true,
  create: (ctx) => new TerraformDriver(ctx.config.STACKJOBS_TERRAFORM_BIN, ctx),
};

export const tofuDriver: DriverFactory = {
  bin: (config) => config.STACKJOBS_TOFU_BIN,
  reusesWorkspace: true,
  create: (ctx) => new TerraformDriver(ctx.config.STACKJOBS_TOFU_BIN, ctx),
};
