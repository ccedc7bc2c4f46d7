/** The runner's environment contract as the state machine fills it. */
import { readRunnerConfig } from '../../runner-image/src/config';

const base = {
  STACKJOBS_JOB_ID: 'sj_01jsrnmwpnnc6n62h06xafcgxv',
  STACKJOBS_PHASE: 'update',
  STACKJOBS_TASK_TOKEN: 'tok',
  STACKJOBS_JOBS_TABLE: 'jobs',
  STACKJOBS_ARTIFACTS_BUCKET: 'artifacts',
};

describe('STACKJOBS_PLAN_DIGEST', () => {
  it('treats the empty string the Skip Preview state passes as absent', () => {
    expect(readRunnerConfig({ ...base, STACKJOBS_PLAN_DIGEST: '' }).STACKJOBS_PLAN_DIGEST).toBeUndefined();
    expect(readRunnerConfig(base).STACKJOBS_PLAN_DIGEST).toBeUndefined();
  });

  it('accepts a hex SHA-256 and still rejects anything else, by name and never echoing the value', () => {
    expect(readRunnerConfig({ ...base, STACKJOBS_PLAN_DIGEST: 'a'.repeat(64) }).STACKJOBS_PLAN_DIGEST).toBe('a'.repeat(64));
    expect(() => readRunnerConfig({ ...base, STACKJOBS_PLAN_DIGEST: 'not-a-digest-zzz' })).toThrow(/STACKJOBS_PLAN_DIGEST: a hex SHA-256/);
    expect(() => readRunnerConfig({ ...base, STACKJOBS_PLAN_DIGEST: 'not-a-digest-zzz' })).not.toThrow(/not-a-digest-zzz/);
    expect(() => readRunnerConfig({ ...base, STACKJOBS_PLAN_DIGEST: ' ' })).toThrow(/STACKJOBS_PLAN_DIGEST/);
  });
});
