/** Builds the app into any App (the real one in app.ts, a bundling-free one in tests and infra/asl.ts). */
import type { App } from 'aws-cdk-lib';
import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { stackPropsFromContext } from './context';
import { StackJobsStack } from './stack-jobs-stack';

export const STACK_NAME = 'StackJobs';

export interface BuildOptions {
  /**
   * Run cdk-nag's AwsSolutions checks when the app synthesizes (findings fail the synth).
   * @default true
   */
  readonly nag?: boolean;
}

export function buildStackJobsApp(app: App, options: BuildOptions = {}): StackJobsStack {
  // cdk-nag 3: a validation plugin; every finding is an error unless acknowledged next to its resource.
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return new StackJobsStack(app, STACK_NAME, stackPropsFromContext(app.node));
}
