/**
 * EventBridge Scheduler behind the DriftScheduleSync port: one schedule per drift schedule, in this deployment's
 * schedule group, invoking the fan-out Lambda with `{org, scheduleId}` through the role Scheduler assumes (which may
 * invoke that Lambda only). The schedule's name is derived from the org and id (Scheduler allows 64 characters of
 * [0-9A-Za-z_.-], the catalog 128 per name), so the API never stores a second reference to it.
 * Create and update fall back to each other: a catalog write whose Scheduler call failed is put right by the retried
 * PUT, whichever state Scheduler was left in.
 */
import { createHash } from 'node:crypto';
import type { SchedulerClient } from '@aws-sdk/client-scheduler';
import type { DriftScheduleSync } from '../../domain/ports';
import type { DriftSchedule } from '../../domain/schemas';
import { clientOf, schedulerSdk, type ClientRef } from './sdk';

export interface DriftScheduleTarget {
  /** The deployment's schedule group. */
  groupName: string;
  /** The role Scheduler assumes to invoke the fan-out. */
  roleArn: string;
  /** The fan-out Lambda. */
  functionArn: string;
}

/** A late invocation still checks: within an hour, 10 retries (Scheduler's own backoff). */
export const DRIFT_SCHEDULE_RETRY = { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 10 } as const;

/** The Scheduler name of an org's drift schedule: `drift-` and 40 hex digits of SHA-256 over `org/id`. */
export const scheduleNameOf = (org: string, scheduleId: string) => `drift-${createHash('sha256').update(`${org}/${scheduleId}`).digest('hex').slice(0, 40)}`;

const named = (e: unknown, name: string) => (e as { name?: string } | undefined)?.name === name;

export class EventBridgeDriftSchedules implements DriftScheduleSync {
  constructor(
    private readonly client: ClientRef<SchedulerClient>,
    private readonly target: DriftScheduleTarget,
  ) {}

  private input(org: string, schedule: DriftSchedule) {
    return {
      Name: scheduleNameOf(org, schedule.id),
      GroupName: this.target.groupName,
      Description: `Stack Jobs drift schedule ${schedule.id} of org ${org}`.slice(0, 512),
      ScheduleExpression: schedule.schedule,
      ScheduleExpressionTimezone: 'UTC',
      FlexibleTimeWindow: { Mode: 'OFF' as const },
      State: 'ENABLED' as const,
      Target: {
        Arn: this.target.functionArn,
        RoleArn: this.target.roleArn,
        Input: JSON.stringify({ org, scheduleId: schedule.id }),
        RetryPolicy: DRIFT_SCHEDULE_RETRY,
      },
    };
  }

  async put(org: string, schedule: DriftSchedule, replaced: boolean): Promise<void> {
    const sdk = schedulerSdk();
    const client = clientOf(this.client);
    const create = () => client.send(new sdk.CreateScheduleCommand(this.input(org, schedule)));
    const update = () => client.send(new sdk.UpdateScheduleCommand(this.input(org, schedule)));
    if (replaced) {
      try {
        await update();
      } catch (e) {
        if (!named(e, 'ResourceNotFoundException')) throw e;
        await create();
      }
      return;
    }
    try {
      await create();
    } catch (e) {
      if (!named(e, 'ConflictException')) throw e;
      await update();
    }
  }

  async delete(org: string, scheduleId: string): Promise<void> {
    try {
      await clientOf(this.client).send(new (schedulerSdk().DeleteScheduleCommand)({ Name: scheduleNameOf(org, scheduleId), GroupName: this.target.groupName }));
    } catch (e) {
      if (!named(e, 'ResourceNotFoundException')) throw e;
    }
  }
}
