/**
 * Events: the app's custom bus (inbound "Resource Changed", outbound "Stack Job Status Changed"), the inbound
 * rule with its dead-letter queue, the rule on aws.states execution endings that drives the cleanup Lambda, the
 * rule on stopped runner tasks (aws.ecs) that drives the runner-stopped Lambda, and the rule on the app's own
 * "Stack Drift Detected" events that drives the drift-detected Lambda.
 */
import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Validations } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { EVENT_SOURCE } from '../../lambdas/adapters/aws/event-publisher';
import { RESOURCE_CHANGED } from '../../lambdas/events/resource-changed';
import { APPROVAL_EXPIRED_PATTERN } from '../../lambdas/approvals/expired';
import { DRIFT_DETECTED_PATTERN } from '../../lambdas/events/drift-detected';
import { runnerStoppedPattern } from '../../lambdas/workflow/runner-stopped';
import { deploymentId } from './deployment';

/** The detail-type of inbound changes (the intake's own constant); any source but the app's own may send them. */
export { RESOURCE_CHANGED };

/**
 * Delivery policy for the inbound rule: EventBridge retries a failed Lambda invoke with backoff for at most
 * INBOUND_MAX_EVENT_AGE and INBOUND_RETRY_ATTEMPTS times, then parks the event in the DLQ. Submissions are
 * idempotent on the change (org, env, resource, version, trigger), so a redelivery cannot create a second job.
 * 8 attempts over at most 2 hours rides out a Lambda throttle or a regional blip without hiding a real bug for a day.
 */
export const INBOUND_RETRY_ATTEMPTS = 8;
export const INBOUND_MAX_EVENT_AGE = Duration.hours(2);
/** The same for execution-ended events: the cleanup is idempotent and fenced, so retrying it is always safe. */
export const CLEANUP_RETRY_ATTEMPTS = 8;
export const CLEANUP_MAX_EVENT_AGE = Duration.hours(6);
/**
 * Delivering an expiry to the Lambda that closes its Slack message: a few attempts within the hour. (The Lambda itself
 * never fails for Slack: a failed chat.update is logged and counted, not retried.)
 */
export const APPROVAL_EXPIRED_RETRY_ATTEMPTS = 3;
export const APPROVAL_EXPIRED_MAX_EVENT_AGE = Duration.hours(1);
/**
 * Delivering a runner's stop to the Lambda that fails its task matters only while the task waits, and the heartbeat
 * timeout (300 s) ends it soon after anyway: 4 attempts within 10 minutes ride out a throttle; a later delivery would
 * find the task closed (harmless, so retrying is safe).
 */
export const RUNNER_STOPPED_RETRY_ATTEMPTS = 4;
export const RUNNER_STOPPED_MAX_EVENT_AGE = Duration.minutes(10);
/**
 * Delivering a drift event to the Lambda that notifies and remediates: like the inbound rule (the remediation job is
 * keyed by the check, so a redelivery makes no second job), for at most 2 hours.
 */
export const DRIFT_DETECTED_RETRY_ATTEMPTS = 8;
export const DRIFT_DETECTED_MAX_EVENT_AGE = Duration.hours(2);

/**
 * A handler that throws is retried by Lambda's asynchronous invocation (twice, the maximum) within six hours, then its
 * event goes to the handler's failure queue. Every handler here is idempotent, so the retries are safe.
 */
export const HANDLER_RETRY_ATTEMPTS = 2;
export const HANDLER_MAX_EVENT_AGE = Duration.hours(6);

export interface EventsProps {
  /**
   * Days the dead-letter queues keep undeliverable events (SQS allows at most 14).
   * @default 14
   */
  readonly dlqRetentionDays?: number;
}

export class Events extends Construct {
  public readonly bus: events.EventBus;
  /** Inbound "Resource Changed" events that could not be delivered to the submit Lambda. */
  public readonly inboundDlq: sqs.Queue;
  /** Execution-ended events that could not be delivered to the cleanup Lambda. */
  public readonly cleanupDlq: sqs.Queue;
  /** Approval-expired status events that could not be delivered to their Lambda. */
  public readonly approvalExpiredDlq: sqs.Queue;
  /** Stopped-runner events that could not be delivered to the runner-stopped Lambda (they hold the task token). */
  public readonly runnerStoppedDlq: sqs.Queue;
  /** Drift events that could not be delivered to the drift-detected Lambda. */
  public readonly driftDetectedDlq: sqs.Queue;
  /**
   * Events that were delivered but whose handler failed every attempt (EventBridge invokes asynchronously, so a rule's
   * DLQ covers delivery only: without these, Lambda retries twice and drops the event). By handler name.
   */
  public readonly handlerFailures: Record<'Intake' | 'Cleanup' | 'ApprovalExpired' | 'RunnerStopped' | 'DriftDetected' | 'DriftFanOut', sqs.Queue>;
  private inboundRule?: events.Rule;
  private cleanupRule?: events.Rule;

  constructor(scope: Construct, id: string, props: EventsProps = {}) {
    super(scope, id);
    this.bus = new events.EventBus(this, 'Bus', { description: 'Stack Jobs: inbound resource changes, outbound job status changes' });
    const dlq = (name: string) => {
      const q = new sqs.Queue(this, name, {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(props.dlqRetentionDays ?? 14),
      });
      Validations.of(q).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason: 'This queue is itself a dead-letter queue (of an EventBridge target); it has nowhere further to go.',
      });
      return q;
    };
    this.inboundDlq = dlq('InboundDlq');
    this.cleanupDlq = dlq('CleanupDlq');
    this.approvalExpiredDlq = dlq('ApprovalExpiredDlq');
    this.runnerStoppedDlq = dlq('RunnerStoppedDlq');
    this.driftDetectedDlq = dlq('DriftDetectedDlq');
    this.handlerFailures = {
      Intake: dlq('IntakeFailures'),
      Cleanup: dlq('CleanupFailures'),
      ApprovalExpired: dlq('ApprovalExpiredFailures'),
      RunnerStopped: dlq('RunnerStoppedFailures'),
      DriftDetected: dlq('DriftDetectedFailures'),
      DriftFanOut: dlq('DriftFanOutFailures'),
    };
  }

  /**
   * A failed asynchronous invocation (the handler threw on every attempt) lands in `queue` with the event and the
   * error (Lambda's on-failure destination record), instead of being dropped.
   */
  private keepFailures(handler: lambda.IFunction, queue: sqs.Queue): void {
    handler.configureAsyncInvoke({
      onFailure: new destinations.SqsDestination(queue),
      retryAttempts: HANDLER_RETRY_ATTEMPTS,
      maxEventAge: HANDLER_MAX_EVENT_AGE,
    });
  }

  /** Sends inbound RESOURCE_CHANGED events (from any source but the app itself) to the submit Lambda. */
  routeResourceChanges(handler: lambda.IFunction): events.Rule {
    this.inboundRule = new events.Rule(this, 'ResourceChangedRule', {
      eventBus: this.bus,
      description: 'Resource changes submitted as stack jobs',
      eventPattern: { detailType: [RESOURCE_CHANGED], source: events.Match.anythingBut(EVENT_SOURCE) },
      targets: [
        new targets.LambdaFunction(handler, { deadLetterQueue: this.inboundDlq, retryAttempts: INBOUND_RETRY_ATTEMPTS, maxEventAge: INBOUND_MAX_EVENT_AGE }),
      ],
    });
    this.keepFailures(handler, this.handlerFailures.Intake);
    return this.inboundRule;
  }

  /**
   * Sends this state machine's FAILED / TIMED_OUT / ABORTED execution events to the cleanup Lambda.
   * Step Functions emits these on the account's default bus, not on the app's bus.
   */
  routeExecutionEnds(stateMachine: sfn.IStateMachine, handler: lambda.IFunction): events.Rule {
    this.cleanupRule = new events.Rule(this, 'ExecutionEndedRule', {
      description: 'Stack job executions that ended without their own cleanup path',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: [stateMachine.stateMachineArn], status: ['FAILED', 'TIMED_OUT', 'ABORTED'] },
      },
      targets: [
        new targets.LambdaFunction(handler, { deadLetterQueue: this.cleanupDlq, retryAttempts: CLEANUP_RETRY_ATTEMPTS, maxEventAge: CLEANUP_MAX_EVENT_AGE }),
      ],
    });
    this.keepFailures(handler, this.handlerFailures.Cleanup);
    return this.cleanupRule;
  }

  /**
   * Sends the STOPPED task events of this deployment's runners (platform and org runners: ECS emits them on the
   * account's default bus) to the Lambda that fails the task a runner left waiting, so a task that died without
   * reporting ends its job once ECS reports it stopped, not at the heartbeat timeout.
   */
  routeRunnerStops(handler: lambda.IFunction): events.Rule {
    const pattern = runnerStoppedPattern(deploymentId(this));
    const rule = new events.Rule(this, 'RunnerStoppedRule', {
      description: 'Stack job runner tasks that stopped: fail the task of one that did not report',
      eventPattern: { source: pattern.source, detailType: pattern.detailType, detail: pattern.detail },
      targets: [
        new targets.LambdaFunction(handler, {
          deadLetterQueue: this.runnerStoppedDlq,
          retryAttempts: RUNNER_STOPPED_RETRY_ATTEMPTS,
          maxEventAge: RUNNER_STOPPED_MAX_EVENT_AGE,
        }),
      ],
    });
    this.keepFailures(handler, this.handlerFailures.RunnerStopped);
    return rule;
  }

  /**
   * Sends the app's own status events of jobs whose approval closed unattended (expired, or the job ended otherwise
   * while it waited) to the Lambda that replaces the approval's Slack message (the workflow's step Lambda has no Slack token).
   */
  routeApprovalExpiries(handler: lambda.IFunction): events.Rule {
    const rule = new events.Rule(this, 'ApprovalExpiredRule', {
      eventBus: this.bus,
      description: 'Stack jobs whose approval expired or that ended while awaiting approval: close the Slack message',
      eventPattern: {
        source: [...APPROVAL_EXPIRED_PATTERN.source],
        detailType: [...APPROVAL_EXPIRED_PATTERN.detailType],
        detail: APPROVAL_EXPIRED_PATTERN.detail,
      },
      targets: [
        new targets.LambdaFunction(handler, {
          deadLetterQueue: this.approvalExpiredDlq,
          retryAttempts: APPROVAL_EXPIRED_RETRY_ATTEMPTS,
          maxEventAge: APPROVAL_EXPIRED_MAX_EVENT_AGE,
        }),
      ],
    });
    this.keepFailures(handler, this.handlerFailures.ApprovalExpired);
    return rule;
  }

  /**
   * Sends the app's own "Stack Drift Detected" events to the Lambda that posts the Slack notice, counts DriftDetected
   * and, for `remediate: plan`, submits the change back.
   */
  routeDriftDetected(handler: lambda.IFunction): events.Rule {
    const rule = new events.Rule(this, 'DriftDetectedRule', {
      eventBus: this.bus,
      description: 'Drift found by a drift check: notify in Slack, count it, and remediate when the schedule says plan',
      eventPattern: { source: [...DRIFT_DETECTED_PATTERN.source], detailType: [...DRIFT_DETECTED_PATTERN.detailType] },
      targets: [
        new targets.LambdaFunction(handler, {
          deadLetterQueue: this.driftDetectedDlq,
          retryAttempts: DRIFT_DETECTED_RETRY_ATTEMPTS,
          maxEventAge: DRIFT_DETECTED_MAX_EVENT_AGE,
        }),
      ],
    });
    this.keepFailures(handler, this.handlerFailures.DriftDetected);
    return rule;
  }

  /**
   * EventBridge Scheduler invokes the drift fan-out asynchronously: a run whose handler failed every attempt (a check
   * that could not be started) lands in DriftFanOutFailures with its error.
   */
  keepDriftFanOutFailures(handler: lambda.IFunction): void {
    this.keepFailures(handler, this.handlerFailures.DriftFanOut);
  }
}
