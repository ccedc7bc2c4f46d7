/** ECS behind the RunnerTaskStopper port: StopTask sends the runner SIGTERM, and SIGKILL after the stop timeout. */
import type { ECSClient } from '@aws-sdk/client-ecs';
import { clientOf, ecsSdk, type ClientRef } from '../../adapters/aws/sdk';
import type { RunnerTaskStopper } from '../ports';

/** `arn:aws:ecs:<region>:<account>:task/<cluster>/<id>`: StopTask assumes the default cluster unless told. */
export function clusterOfTaskArn(taskArn: string): string | undefined {
  return /:task\/([^/]+)\/[^/]+$/.exec(taskArn)?.[1];
}

export class EcsRunnerTaskStopper implements RunnerTaskStopper {
  constructor(private readonly client: ClientRef<ECSClient>) {}

  async stop(taskArn: string, reason: string): Promise<void> {
    const cluster = clusterOfTaskArn(taskArn);
    // ECS keeps at most 255 characters of the reason.
    await clientOf(this.client).send(new (ecsSdk().StopTaskCommand)({ task: taskArn, ...(cluster ? { cluster } : {}), reason: reason.slice(0, 255) }));
  }
}
