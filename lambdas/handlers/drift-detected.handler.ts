/**
 * Lambda entry for the EventBridge rule on the app's bus that matches `Stack Drift Detected`: submits the change back
 * when the schedule says `remediate: plan`, counts DriftDetected and posts a Slack notice (events/drift-detected.ts).
 */
import { driftDetectedDepsFromEnv } from '../app/drift-deps';
import { handleDriftDetected } from '../events/drift-detected';
import { lazy } from '../shared/lazy';

const deps = lazy(() => driftDetectedDepsFromEnv());

export const handler = async (event: unknown): Promise<void> => {
  await handleDriftDetected(deps(), event);
};
