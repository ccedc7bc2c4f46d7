/** Lambda entry for EventBridge "Cloud Resource Changed" events: the same submission as the API. */
import type { EventBridgeEvent } from 'aws-lambda';
import { submissionContextFromEnv } from '../app/submission-context';
import { lazy } from '../shared/lazy';
import { handleResourceChanged } from '../events/resource-changed';

const ctx = lazy(() => submissionContextFromEnv('stackjobs-resource-changed'));

export const handler = async (event: EventBridgeEvent<string, unknown>) => {
  const c = ctx();
  try {
    return await handleResourceChanged(event, { submission: c.submission, publisher: c.publisher, logger: c.logger, metrics: c.metrics });
  } finally {
    if (c.metrics.hasStoredMetrics()) c.metrics.publishStoredMetrics();
  }
};
