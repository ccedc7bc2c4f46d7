/** Terraform and OpenTofu: the same CLI contract, a different binary. */
import { readFile } from 'node:fs/promises';
import type { OutputValues } from '../../../lambdas/adapters/s3/artifact-store';
import { summarisePlan, type ShowJsonPlan } from '../../../lambdas/domain/plan-summary';
import type { StackJob } from '../../../lambdas/domain/schemas';
import type { Exec } from '../command';
import { writeTerraformVars } from '../module-config';
import type { ApplyOutcome, DriverPaths, IacDriver, PlanOutcome } from './driver';

/** `plan -detailed-exitcode`: 0 = no changes, 2 = changes, anything else = error. */
const PLAN_OK = [0, 2];
const PLAN_HAS_CHANGES = 2;

export class TerraformDriver implements IacDriver {
  private varFile = '';

  constructor(
    readonly bin: string,
    private readonly job: StackJob,
    private readonly configDir: string,
    private readonly backendConfig: string[],
    private readonly paths: DriverPaths,
  ) {}

  async configure(): Promise<void> {
    this.varFile = await writeTerraformVars(this.job, this.configDir);
  }

  async init(exec: Exec): Promise<void> {
    await exec({ args: ['init', '-input=false', '-no-color', ...this.backendConfig.map((c) => `-backend-config=${c}`)] });
  }

  async refresh(exec: Exec): Promise<void> {
    // The modern form of `terraform refresh`: it shows what changed outside Terraform and records it in state.
    await exec({ args: ['apply', '-refresh-only', '-auto-approve', '-input=false', '-no-color', '-json', `-var-file=${this.varFile}`], json: true });
  }

  async plan(exec: Exec, options: { destroy: boolean }): Promise<PlanOutcome> {
    // When refresh ran as its own operation the plan need not refresh again; with skipRefresh it must not.
    const { exitCode } = await exec({
      args: ['plan', '-input=false', '-no-color', '-json', `-out=${this.paths.planFile}`, '-detailed-exitcode', '-refresh=false', `-var-file=${this.varFile}`, ...(options.destroy ? ['-destroy'] : [])],
      json: true,
      okExitCodes: PLAN_OK,
    });
    await exec({ args: ['show', '-json', '-no-color', this.paths.planFile], stdoutFile: this.paths.planJsonFile });
    const { summary, hasChanges } = summarisePlan(JSON.parse(await readFile(this.paths.planJsonFile, 'utf8')) as ShowJsonPlan);
    // The exit code is the tool's own verdict; the summary can only add to it (e.g. a moved-only plan).
    return { summary, hasChanges: exitCode === PLAN_HAS_CHANGES || hasChanges };
  }

  async applyPlan(exec: Exec): Promise<ApplyOutcome> {
    // A saved plan carries its own variables and destroy mode: no -var-file, no -destroy.
    const { changeSummary } = await exec({ args: ['apply', '-input=false', '-auto-approve', '-no-color', '-json', this.paths.planFile], json: true });
    return changeSummary ? { hasChanges: changeSummary.add + changeSummary.change + changeSummary.remove > 0 } : {};
  }

  async applyDirect(exec: Exec, options: { destroy: boolean }): Promise<ApplyOutcome> {
    const { changeSummary } = await exec({
      args: ['apply', '-input=false', '-auto-approve', '-no-color', '-json', '-refresh=false', `-var-file=${this.varFile}`, ...(options.destroy ? ['-destroy'] : [])],
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
}
