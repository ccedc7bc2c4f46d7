/**
 * Pulumi. "Apply the approved plan" means `pulumi up --plan=<saved plan>`: Pulumi's update plans make `up`
 * fail if the program would do anything the saved preview did not show (an extra resource, a different
 * property). They cannot pin values that are unknown at preview time, nor a provider's behaviour, and
 * `destroy` takes no plan: a destroy applies what the state holds at that moment.
 *
 * State: `refresh` is `pulumi refresh --preview-only` (never `refresh --yes`, which writes the refreshed state
 * before approval); the preview refreshes in memory (`preview --refresh`); only `up`/`destroy --yes` write state.
 */
import { existsSync } from 'node:fs';
import { constants } from 'node:fs';
import { copyFile, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { OutputValues } from '../../../../lambdas/adapters/s3/artifact-store';
import type { Exec } from '../../command';
import { writePulumiStackConfig } from '../../module-config';
import type { ApplyOutcome, DriftFound, DriverContext, DriverFactory, IacDriver, PlanOutcome } from '../driver';
import { maskPulumiSecrets, readPulumiDrift, summarisePulumiPreview, type PulumiPreview } from './preview-json';

/** Update plans (`--save-plan`, `up --plan`) are behind Pulumi's experimental flag. */
const EXPERIMENTAL = { PULUMI_EXPERIMENTAL: 'true' };

export class PulumiDriver implements IacDriver {
  private readonly stack: string;

  constructor(
    readonly bin: string,
    private readonly ctx: DriverContext,
  ) {
    const m = ctx.job.metadata;
    const r = ctx.job.spec.apiResourceInfo;
    // One stack per resource: the same on every job of the resource.
    this.stack = `${m.org}-${m.env}-${r.id}`;
  }

  private get paths() {
    return this.ctx.paths;
  }

  private get common(): string[] {
    return ['--stack', this.stack, '--non-interactive', '--color', 'never'];
  }

  async configure(): Promise<void> {
    await writePulumiStackConfig(this.ctx.job, this.ctx.moduleDir, this.stack);
  }

  async init(exec: Exec): Promise<void> {
    // A Node.js program (TypeScript or JavaScript) brings its dependencies as a lockfile: installed exactly, at run time.
    // Other runtimes (Python, Go, .NET) are not installed in the image (README, Writing modules).
    if (existsSync(join(this.ctx.moduleDir, 'package-lock.json'))) await exec({ bin: 'npm', args: ['ci', '--no-audit', '--no-fund'] });
    await exec({ args: ['login', this.ctx.pulumiBackendUrl, '--non-interactive'] });
    await exec({ args: ['stack', 'select', '--create', this.stack, '--non-interactive'] });
  }

  async refresh(exec: Exec): Promise<DriftFound> {
    await exec({ args: ['refresh', '--preview-only', '--json', ...this.common], stdoutFile: this.paths.refreshJsonFile });
    return readPulumiDrift(JSON.parse(await readFile(this.paths.refreshJsonFile, 'utf8')) as PulumiPreview);
  }

  async plan(exec: Exec, options: { destroy: boolean; refresh: boolean }): Promise<PlanOutcome> {
    const refresh = options.refresh ? ['--refresh'] : [];
    const args = options.destroy
      ? ['destroy', '--preview-only', '--json', ...refresh, ...this.common]
      : ['preview', '--json', ...refresh, `--save-plan=${this.paths.planFile}`, ...this.common];
    await exec({ args, stdoutFile: this.paths.planJsonFile, env: EXPERIMENTAL });
    const outcome = summarisePulumiPreview(JSON.parse(await readFile(this.paths.planJsonFile, 'utf8')) as PulumiPreview);
    // A destroy preview saves no plan: the preview JSON itself is what is digested and approved.
    // Into the tool's directory: whatever the tool left at that name goes first, and the copy never writes through a
    // name made again since (COPYFILE_EXCL: it fails instead).
    if (options.destroy) {
      await rm(this.paths.planFile, { force: true });
      await copyFile(this.paths.planJsonFile, this.paths.planFile, constants.COPYFILE_EXCL);
    }
    return outcome;
  }

  async applyPlan(exec: Exec, options: { destroy: boolean }): Promise<ApplyOutcome> {
    const args = options.destroy
      ? ['destroy', '--yes', '--skip-preview', ...this.common]
      : ['up', '--yes', '--skip-preview', `--plan=${this.paths.appliedPlanFile}`, ...this.common];
    await exec({ args, env: EXPERIMENTAL });
    return {};
  }

  async applyDirect(exec: Exec, options: { destroy: boolean; refresh: boolean }): Promise<ApplyOutcome> {
    await exec({ args: [options.destroy ? 'destroy' : 'up', '--yes', '--skip-preview', ...(options.refresh ? ['--refresh'] : []), ...this.common] });
    return {};
  }

  async outputs(exec: Exec): Promise<OutputValues> {
    // --show-secrets=false prints secret outputs as "[secret]": they are marked sensitive and never stored in clear.
    await exec({ args: ['stack', 'output', '--json', '--show-secrets=false', '--stack', this.stack, '--non-interactive'], stdoutFile: this.paths.outputsFile });
    const raw = JSON.parse((await readFile(this.paths.outputsFile, 'utf8')).trim() || '{}') as Record<string, unknown>;
    return Object.fromEntries(Object.entries(raw).map(([k, value]) => [k, { sensitive: value === '[secret]', value }]));
  }

  downloadablePlan(plan: Record<string, unknown>): Record<string, unknown> {
    return maskPulumiSecrets(plan) as Record<string, unknown>;
  }
}

export const pulumiDriver: DriverFactory = {
  bin: (config) => config.STACKJOBS_PULUMI_BIN,
  reusesWorkspace: false,
  create: (ctx) => new PulumiDriver(ctx.config.STACKJOBS_PULUMI_BIN, ctx),
};
