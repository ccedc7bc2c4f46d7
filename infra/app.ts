/** The CDK app: one StackJobs stack, cdk-nag AwsSolutions checks on every synth (findings fail it). */
import { App } from 'aws-cdk-lib';
import { buildStackJobsApp } from './build';

const app = new App();
try {
  buildStackJobsApp(app);
} catch (e) {
  // A context value to fix: say which and how, without a stack trace in the way.
  if ((e as Error).name !== 'ContextError') throw e;
  process.stderr.write(`\n${(e as Error).message}\n\n`);
  process.exit(1);
}
app.synth();
