/**
 * The EventBridge entry point: a "Cloud Resource Changed" event goes through the same submission use case as
 * the API. A change that can never succeed (invalid, or failing pre-flight) is published as "Stack Job Rejected"
 * and not thrown, since a retry would fail the same way; infrastructure errors throw so EventBridge/Lambda
 * retry and the DLQ keeps what never succeeds.
 */
import { ConflictError } from '../domain/errors';
import type { EventBridgeEvent } from 'aws-lambda';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { EventPublisher } from '../domain/ports';
import { resourceChangeSchema } from '../domain/schemas';
import { submitChange, type SubmissionDeps } from '../app/submit-change';
import { storableProblems } from '../shared/storable';
import { fieldProblems } from '../http/problem';
import { countPreflightFailures } from '../app/submission-metrics';

export const RESOURCE_CHANGED = 'Cloud Resource Changed';
import { JOB_REJECTED } from '../domain/events';

export { JOB_REJECTED };

export interface ResourceChangedDeps {
  submission: SubmissionDeps;
  publisher: EventPublisher;
  logger: Logger;
  metrics: Metrics;
}

export type ResourceChangedOutcome = { outcome: 'ignored' | 'rejected' } | { outcome: 'created' | 'duplicate'; jobId: string };

export async function handleResourceChanged(event: EventBridgeEvent<string, unknown>, deps: ResourceChangedDeps): Promise<ResourceChangedOutcome> {
  if (event['detail-type'] !== RESOURCE_CHANGED) {
    deps.logger.warn('ignoring an event of another type', { detailType: event['detail-type'], eventId: event.id });
    return { outcome: 'ignored' };
  }
  const storable = storableProblems(event.detail, 'detail');
  const parsed = resourceChangeSchema.safeParse(event.detail);
  if (storable.length > 0 || !parsed.success) {
    deps.metrics.addMetric('InvalidChangeEvents', MetricUnit.Count, 1);
    await deps.publisher.publish(JOB_REJECTED, {
      eventId: event.id,
      reason: 'invalid',
      errors: storable.length > 0 ? storable : fieldProblems(parsed.error!, 'detail', event.detail),
    });
    deps.logger.warn('rejected an invalid change event', { eventId: event.id });
    return { outcome: 'rejected' };
  }
  const change = parsed.data;
  // No person is authenticated here: the submitter is the producing source (detail.createdBy stays the producer's word).
  const identity = {
    org: change.resource.org,
    env: change.resource.env,
    resourceId: change.resource.id,
    versionId: change.resource.version.id,
    triggerEvent: change.triggerEvent,
  };
  let outcome: Awaited<ReturnType<typeof submitChange>>;
  try {
    outcome = await submitChange(change, deps.submission, { submittedBy: `eventbridge:${event.source}` });
  } catch (e) {
    // A different change under a version already submitted: retrying the event cannot help, so it is rejected, visibly.
    if (!(e instanceof ConflictError)) throw e;
    await deps.publisher.publish(JOB_REJECTED, {
      eventId: event.id,
      reason: 'version_conflict',
      ...identity,
      errors: [{ path: 'detail', message: e.message }],
    });
    deps.logger.warn('rejected a change event: its version was already submitted with a different change', { ...identity, eventId: event.id });
    return { outcome: 'rejected' };
  }
  if (outcome.kind === 'rejected') {
    countPreflightFailures(deps.metrics, outcome.checks);
    await deps.publisher.publish(JOB_REJECTED, { eventId: event.id, reason: 'preflight_failed', ...identity, checks: outcome.checks });
    deps.logger.info('pre-flight failed for a change event', { ...identity, failed: outcome.checks.filter((c) => !c.passed).map((c) => c.check) });
    return { outcome: 'rejected' };
  }
  if (outcome.kind === 'created') deps.metrics.addMetric('JobsSubmitted', MetricUnit.Count, 1);
  deps.logger.info(outcome.kind === 'created' ? 'stack job submitted' : 'duplicate change event answered with the existing job', {
    jobId: outcome.job.metadata.id,
    org: change.resource.org,
  });
  return { outcome: outcome.kind, jobId: outcome.job.metadata.id };
}
