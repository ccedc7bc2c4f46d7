/** Lambda entry for the EventBridge rule on aws.states execution FAILED/TIMED_OUT/ABORTED: mark the job, release its lock. */
import { handleExecutionEnded } from './cleanup';
import type { CleanupResult } from './lifecycle';
import { lazyDeps, workflowDepsFromEnv } from './deps';

const deps = lazyDeps(() => workflowDepsFromEnv(process.env, 'stackjobs-cleanup'));

export const handler = (event: unknown): Promise<CleanupResult> => handleExecutionEnded(deps(), event);
