/**
 * The jobs table's index upgrade (infra/constructs/storage.ts): a deployed table moves from the indexes of earlier
 * versions (every attribute copied) to this version's (keys only) one index per deploy, since CloudFormation fails a
 * stack update that creates or deletes more than one, and no query is ever without an index that answers it.
 */
import { App, Stack } from 'aws-cdk-lib';
import { stackPropsFromContext } from '../../infra/context';
import { OFFLINE_CONTEXT } from '../../infra/asl';
import { JOBS_INDEX_NAMES, JOBS_INDEX_UPGRADE_STEPS, Storage } from '../../infra/constructs/storage';
import { JOBS_TABLE, LEGACY_JOBS_INDEXES } from '../../lambdas/adapters/dynamodb/table-definitions';

type Gsi = { IndexName: string; KeySchema: unknown; Projection: unknown };

/** The jobs table's indexes as the template of `step` declares them (no step: the finished upgrade, or a new table). */
function indexesAt(step?: number): Gsi[] {
  const stack = new Stack(new App(), 'S');
  const storage = new Storage(stack, 'Storage', { jobsIndexUpgradeStep: step });
  return (
    stack.resolve((storage.jobsTable.node.defaultChild as unknown as { globalSecondaryIndexes: unknown }).globalSecondaryIndexes) as Array<
      Record<string, unknown>
    >
  ).map((g) => ({ IndexName: g.indexName as string, KeySchema: g.keySchema, Projection: g.projection }));
}
const names = (gsis: Gsi[]) => gsis.map((g) => g.IndexName).sort();

it('goes from the three legacy indexes to the three keys-only ones, one index created or deleted per deploy', () => {
  const legacy = Object.values(LEGACY_JOBS_INDEXES).map((i) => i.indexName);
  const templates = [legacy, ...Array.from({ length: JOBS_INDEX_UPGRADE_STEPS }, (_, i) => names(indexesAt(i + 1))), names(indexesAt())];
  expect(templates[templates.length - 1]).toEqual(JOBS_TABLE.indexes.map((i) => i.indexName).sort());
  for (let i = 1; i < templates.length; i++) {
    const [before, after] = [new Set(templates[i - 1]), new Set(templates[i])];
    const created = [...after].filter((n) => !before.has(n));
    const deleted = [...before].filter((n) => !after.has(n));
    expect({ step: i, changes: created.length + deleted.length }).toEqual({ step: i, changes: 1 });
    // Every query's index, or the legacy one that answers for it meanwhile, is there at every step.
    for (const index of JOBS_TABLE.indexes)
      expect({ step: i, index: index.indexName, answered: after.has(index.indexName) || after.has(LEGACY_JOBS_INDEXES[index.indexName].indexName) }).toEqual({
        step: i,
        index: index.indexName,
        answered: true,
      });
  }
});

it('keeps each index as it was while the upgrade runs: a legacy one copies everything, a new one keys only, on the same keys', () => {
  const all = indexesAt(3);
  for (const index of JOBS_TABLE.indexes) {
    const [now, legacy] = [all.find((g) => g.IndexName === index.indexName)!, all.find((g) => g.IndexName === LEGACY_JOBS_INDEXES[index.indexName].indexName)!];
    expect(now.Projection).toEqual({ projectionType: 'KEYS_ONLY' });
    expect(legacy.Projection).toEqual({ projectionType: 'ALL' });
    expect(legacy.KeySchema).toEqual(now.KeySchema);
  }
});

it('lets the functions query each index and the legacy one that answers for it during the upgrade', () => {
  expect([...JOBS_INDEX_NAMES].sort()).toEqual(
    [...JOBS_TABLE.indexes.map((i) => i.indexName), ...Object.values(LEGACY_JOBS_INDEXES).map((i) => i.indexName)].sort(),
  );
});

it('reads the step from context stackjobs:jobsIndexUpgradeStep, and refuses one that is not a step', () => {
  const props = (step?: unknown) =>
    stackPropsFromContext(new App({ context: { ...OFFLINE_CONTEXT, ...(step === undefined ? {} : { 'stackjobs:jobsIndexUpgradeStep': step }) } }).node);
  expect(props('2').jobsIndexUpgradeStep).toBe(2);
  expect(props().jobsIndexUpgradeStep).toBeUndefined();
  expect(() => indexesAt(JOBS_INDEX_UPGRADE_STEPS + 1)).toThrow(/upgrade step must be 1 to 5/);
  expect(() => indexesAt(1.5)).toThrow(/upgrade step must be 1 to 5/);
});
