/**
 * Upgrade step for the open-by-stack index (docs/architecture.md, stack lock): gives every unfinished job written
 * by an earlier version the index's keys, so the stack queue sees it. Run once after `cdk deploy`, with credentials
 * for the account (AWS_REGION / AWS_PROFILE as for the CLI):
 *
 *   npm run backfill-open-index -- <JobsTableName>
 *
 * It only adds the keys, conditionally on each job's revision, so it is safe to run while jobs run, and again.
 */
import { documentClient } from '../lambdas/adapters/dynamodb/client';
import { JobRepository } from '../lambdas/adapters/dynamodb/job-repository';

async function main(): Promise<void> {
  const table = process.argv[2];
  if (!table) {
    process.stderr.write('usage: npm run backfill-open-index -- <JobsTableName>   (the stack output JobsTableName)\n');
    process.exit(2);
  }
  const filled = await new JobRepository(documentClient(), table).backfillOpenIndex();
  process.stdout.write(`${filled} unfinished job(s) given their place in the open-by-stack index of ${table}\n`);
}

main().catch((e: Error) => {
  process.stderr.write(`backfill failed: ${e.name}: ${e.message}\n`);
  process.exit(1);
});
