/**
 * Pulumi. "Apply the approved plan" means `pulumi up --plan=<saved plan>`: Pulumi's update plans make `up`
 * fail if the program would do anything the saved preview did not show (an extra resource, a different
 * property). They cannot pin values that are unknown at preview time, nor a provider's behaviour, and
 * `destroy` takes no plan: a destroy applies what the state holds at that moment.
 */
import { copyFile, readFile } from 'node:fs/promises';
import type { OutputValues } from '../../../lambdas/adapters/s3/artifact-store';
import type { PlanSummary, StackJob } from '../../../lambdas/domain/schemas';
import type { Exec } from '../command';
import { writePulumiStackConfig } from '../module-config';
import type { ApplyOutcome, DriverPaths, IacDriver, PlanOutcome } from './driver';

/** The JSON `pulumi preview --json` prints (the parts the summary reads). */
interface PulumiPreview {
  steps?: Array<{ op: string; urn: string }>;
  changeSummary?: Record<string, number>;
}

// A replacement shows as replace + create-replacement + delete-replaced: only `replace` is counted.
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

/** Maps Pulumi step ops onto the summary's Terraform-shaped counts. */
export function summarisePulumiPreview(preview: PulumiPreview): PlanOutcome {
  const summary: PlanSummary = { add: 0, change: 0, destroy: 0, replace: 0, unchanged: 0, read: 0, forget: 0, import: 0, outputChanges: 0, resources: [] };
  for (const step of preview.steps ?? []) {
    const key = STEP_COUNTS[step.op];
    if (key) summary[key]++;
    if (key && step.op !== 'same' && !step.urn.includes('::pulumi:pulumi:Stack::')) summary.resources.push({ address: step.urn, actions: [step.op] });
  }
  const hasChanges = summary.add + summary.change + summary.destroy + summary.replace + summary.import + summary.forget > 0;
  return { summary, hasChanges };
}

export class PulumiDriver implements IacDriver {
  constructor(
    readonly bin: string,
    private readonly job: StackJob,
    private readonly moduleDir: string,
    private readonly stack: string,
    private readonly backendUrl: string,
    private readonly paths: DriverPaths,
  ) {}

  private get common(): string[] {
    return ['--stack', this.stack, '--non-interactive', '--color', 'never'];
  }

  async configure(): Promise<void> {
    await writePulumiStackConfig(this.job, this.moduleDir, this.stack);
  }

  async init(exec: Exec): Promise<void> {
    await exec({ args: ['login', this.backendUrl, '--non-interactive'] });
    await exec({ args: ['stack', 'select', '--create', this.stack, '--non-interactive'] });
  }

  async refresh(exec: Exec): Promise<void> {
    await exec({ args: ['refresh', '--yes', '--skip-preview', ...this.common] });
  }

  async plan(exec: Exec, options: { destroy: boolean }): Promise<PlanOutcome> {
    const args = options.destroy
      ? ['destroy', '--preview-only', '--json', ...this.common]
      : ['preview', '--json', `--save-plan=${this.paths.planFile}`, ...this.common];
    await exec({ args, stdoutFile: this.paths.planJsonFile, env: { PULUMI_EXPERIMENTAL: 'true' } });
    const outcome = summarisePulumiPreview(JSON.parse(await readFile(this.paths.planJsonFile, 'utf8')) as PulumiPreview);
    // A destroy preview saves no plan: the preview JSON itself is what is digested and approved.
    if (options.destroy) await copyFile(this.paths.planJsonFile, this.paths.planFile);
    return outcome;
  }

  async applyPlan(exec: Exec, options: { destroy: boolean }): Promise<ApplyOutcome> {
    const args = options.destroy
      ? ['destroy', '--yes', '--skip-preview', ...this.common]
      : ['up', '--yes', '--skip-preview', `--plan=${this.paths.planFile}`, ...this.common];
    await exec({ args, env: { PULUMI_EXPERIMENTAL: 'true' } });
    return {};
  }

  async applyDirect(exec: Exec, options: { destroy: boolean }): Promise<ApplyOutcome> {
    await exec({ args: [options.destroy ? 'destroy' : 'up', '--yes', '--skip-preview', ...this.common] });
    return {};
  }

  async outputs(exec: Exec): Promise<OutputValues> {
    // --show-secrets=false prints secret outputs as "[secret]": they are marked sensitive and never stored in clear.
    await exec({ args: ['stack', 'output', '--json', '--show-secrets=false', '--stack', this.stack, '--non-interactive'], stdoutFile: this.paths.outputsFile });
    const raw = JSON.parse((await readFile(this.paths.outputsFile, 'utf8')).trim() || '{}') as Record<string, unknown>;
    return Object.fromEntries(Object.entries(raw).map(([k, value]) => [k, { sensitive: value === '[secret]', value }]));
  }
}
