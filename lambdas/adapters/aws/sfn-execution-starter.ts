/**
 * Step Functions behind the ExecutionStarter port. The execution is named after the job id, so a repeated
 * submission (a retried request, a redelivered event) finds the execution already there: that is success.
 */
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { ExecutionInspector, ExecutionStarter } from '../../domain/ports';
import type { StackJob } from '../../domain/schemas';
import { snapshotTravelsWithExecution } from '../../domain/stack-job';
import { clientOf, sfnSdk, type ClientRef } from './sdk';

/**
 * The state machine's whole input: the job id, and the snapshot the submission is writing at the same moment, so the
 * first step can write the job itself should it look before that write lands (or should that write fail). Everything
 * else the workflow reads from DynamoDB. The snapshot holds no secret values: credentials are references.
 */
export interface WorkflowInput {
  jobId: string;
  /** Absent for a snapshot too heavy for the input (snapshotTravelsWithExecution): the submission wrote it first. */
  snapshot?: StackJob;
}

/** The execution of a job: named after it, under the state machine's ARN (`…:stateMachine:<name>` → `…:execution:<name>:<jobId>`). */
export function executionArnOf(stateMachineArn: string, jobId: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${jobId}`;
}

export class SfnExecutionStarter implements ExecutionStarter, ExecutionInspector {
  constructor(
    private readonly client: ClientRef<SFNClient>,
    private readonly stateMachineArn: string,
  ) {}

  async start(job: StackJob): Promise<void> {
    const input: WorkflowInput = snapshotTravelsWithExecution(job) ? { jobId: job.metadata.id, snapshot: job } : { jobId: job.metadata.id };
    try {
      await clientOf(this.client).send(
        new (sfnSdk().StartExecutionCommand)({ stateMachineArn: this.stateMachineArn, name: job.metadata.id, input: JSON.stringify(input) }),
      );
    } catch (e) {
      // Same name within 90 days: the execution for this job exists already (a Standard workflow dedupes on name).
      if (e instanceof sfnSdk().ExecutionAlreadyExists) return;
      throw e;
    }
  }

  async isRunning(jobId: string): Promise<boolean> {
    try {
      const out = await clientOf(this.client).send(new (sfnSdk().DescribeExecutionCommand)({ executionArn: executionArnOf(this.stateMachineArn, jobId) }));
      return out.status === 'RUNNING';
    } catch (e) {
      if (e instanceof sfnSdk().ExecutionDoesNotExist) return false;
      throw e;
    }
  }
}
