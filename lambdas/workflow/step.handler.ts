/** Lambda entry for the state machine's workflow steps (acquire lock, record preview/approval, finish, release). */
import { lazyDeps, workflowDepsFromEnv } from './deps';
import { runStep } from './steps';

const deps = lazyDeps(() => workflowDepsFromEnv(process.env, 'stackjobs-workflow-step'));

export const handler = (event: unknown): Promise<unknown> => runStep(deps(), event);
