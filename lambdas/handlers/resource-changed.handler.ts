/** Lambda entry for EventBridge "Cloud Resource Changed" events: the same submission as the API. */
import type { EventBridgeEvent } from 'aws-lambda';
import { lazy, serviceContextFromEnv } from '../api/context';
import { handleResourceChanged } from '../events/resource-changed';

const ctx = lazy(() => serviceContextFromEnv('stackjobs-resource-changed'));

export const handler = async (event: EventBridgeEvent<string, unknown>) => {
  const c = ctx();
  try {
    return await handleResourceChanged(event, { submission: c.submission, publisher: c.publisher, logger: c.logger, metrics: c.metrics });
  } finally {
    if (c.metrics.hasStoredMetrics()) c.metrics.publishStoredMetrics();
  }
};
