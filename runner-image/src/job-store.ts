/**
 * The runner's view of its one job. Each status write starts from the revision its own last read or write left
 * (JobRepository.updateFrom): one conditional write instead of a read and a write, unless somebody else (a cancel, the
 * state machine) wrote in between, when the write's condition fails and it reads again. A preview records about ten
 * status changes, so this halves the runner's DynamoDB requests and the time its operations wait on them.
 */
import type { JobRepository, TrackedJob } from '../../lambdas/adapters/dynamodb/job-repository';
import { NotFoundError } from '../../lambdas/domain/errors';
import type { StackJob } from '../../lambdas/domain/schemas';
import type { JobStore } from './phases';

export class TrackedJobStore implements JobStore {
  private known: TrackedJob | undefined;

  constructor(private readonly repo: Pick<JobRepository, 'getTracked' | 'updateFrom'>) {}

  /** The job as this process last read or wrote it, read when it has neither. */
  async require(id: string): Promise<{ job: StackJob }> {
    if (this.known?.job.metadata.id !== id) {
      const found = await this.repo.getTracked(id);
      if (!found) throw new NotFoundError(`stack job ${id} not found`);
      this.known = found;
    }
    return { job: this.known.job };
  }

  async update(id: string, mutate: (job: StackJob) => StackJob): Promise<StackJob> {
    this.known = await this.repo.updateFrom(id, this.known, mutate);
    return this.known.job;
  }
}
