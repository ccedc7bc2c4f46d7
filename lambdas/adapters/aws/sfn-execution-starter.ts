/**
 * Step Functions behind the ExecutionStarter port. The execution is named after the job id, so a repeated
 * submission (a retried request, a redelivered event) finds the execution already there: that is success.
 */
import { ExecutionAlreadyExists, StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { ExecutionStarter } from '../../domain/ports';
import type { StackJob } from '../../domain/schemas';

/** The state machine's whole input: everything else it reads from the job snapshot in DynamoDB. */
export interface WorkflowInput {
  jobId: string;
}

export class SfnExecutionStarter implements ExecutionStarter {
  constructor(
    private readonly client: SFNClient,
    private readonly stateMachineArn: string,
  ) {}

  async start(job: StackJob): Promise<void> {
    const input: WorkflowInput = { jobId: job.metadata.id };
    try {
      await this.client.send(new StartExecutionCommand({ stateMachineArn: this.stateMachineArn, name: job.metadata.id, input: JSON.stringify(input) }));
    } catch (e) {
      // Same name within 90 days: the execution for this job exists already (a Standard workflow dedupes on name).
      if (e instanceof ExecutionAlreadyExists) return;
      throw e;
    }
  }
}
