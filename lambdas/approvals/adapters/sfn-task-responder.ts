/** Step Functions behind the TaskResponder port (SendTaskSuccess / SendTaskFailure). */
import type { SFNClient } from '@aws-sdk/client-sfn';
import { clientOf, sfnSdk, type ClientRef } from '../../adapters/aws/sdk';
import type { TaskResponder } from '../ports';

export class SfnTaskResponder implements TaskResponder {
  constructor(private readonly client: ClientRef<SFNClient>) {}

  async succeed(taskToken: string, output: Record<string, unknown>): Promise<void> {
    await clientOf(this.client).send(new (sfnSdk().SendTaskSuccessCommand)({ taskToken, output: JSON.stringify(output) }));
  }

  async fail(taskToken: string, error: string, cause: string): Promise<void> {
    await clientOf(this.client).send(new (sfnSdk().SendTaskFailureCommand)({ taskToken, error, cause }));
  }
}
