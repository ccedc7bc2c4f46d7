/**
 * Lambda entry for the EventBridge rule on ECS Task State Change (STOPPED) of this deployment's runners: fails the
 * Step Functions task a runner left waiting when it stopped without reporting. Needs no configuration: the token is
 * in the event, and the role may only SendTaskFailure on this state machine.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import * as clients from '../adapters/aws/clients';
import { SfnTaskResponder } from '../approvals/adapters/sfn-task-responder';
import { lazy } from '../shared/lazy';
import { handleRunnerStopped, type RunnerStoppedDeps, type RunnerStoppedOutcome } from './runner-stopped';

const deps = lazy((): RunnerStoppedDeps => ({ tasks: new SfnTaskResponder(clients.sfn), log: new Logger({ serviceName: 'stackjobs-runner-stopped' }) }));

export const handler = (event: unknown): Promise<RunnerStoppedOutcome> => handleRunnerStopped(deps(), event);
