/** The CDK app: one StackJobs stack, cdk-nag AwsSolutions checks on every synth (findings fail it). */
import { App } from 'aws-cdk-lib';
import { buildStackJobsApp } from './build';

const app = new App();
buildStackJobsApp(app);
app.synth();
