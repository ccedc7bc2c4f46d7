/**
 * The summariser over every real `terraform show -json` plan in test/fixtures/terraform (hashicorp/terraform test data).
 * Expected counts were read off each fixture's resource_changes/output_changes by hand, not produced by the code.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { summarisePlan, type ShowJsonPlan } from '../../runner-image/src/drivers/terraform/plan-json';
import { planSummarySchema, type PlanSummary } from '../../lambdas/domain/schemas';

const FIXTURES = join(__dirname, '../fixtures/terraform/show-json');

type Expected = Omit<PlanSummary, 'resources'> & { resources: string[]; hasChanges: boolean };
const zero = { add: 0, change: 0, destroy: 0, replace: 0, unchanged: 0, read: 0, forget: 0, import: 0, outputChanges: 0 };

const EXPECTED: Record<string, Expected> = {
  'basic-create.json': {
    ...zero,
    add: 3,
    outputChanges: 1,
    resources: ['test_instance.test[0]:create', 'test_instance.test[1]:create', 'test_instance.test[2]:create'],
    hasChanges: true,
  },
  'basic-delete.json': {
    ...zero,
    change: 1,
    destroy: 1,
    outputChanges: 1,
    resources: ['test_instance.test:update', 'test_instance.test-delete:delete'],
    hasChanges: true,
  },
  // resource_drift (changes made outside Terraform) is not what apply will do: only resource_changes count.
  'drift.json': { ...zero, change: 2, resources: ['test_instance.no_refresh:update', 'test_instance.should_refresh:update'], hasChanges: true },
  'modules.json': {
    ...zero,
    add: 4,
    outputChanges: 1,
    resources: [
      'module.module_test_bar.test_instance.test:create',
      'module.module_test_foo.test_instance.test[0]:create',
      'module.module_test_foo.test_instance.test[1]:create',
      'module.module_test_foo.test_instance.test[2]:create',
    ],
    hasChanges: true,
  },
  'moved.json': { ...zero, change: 1, resources: ['test_instance.baz:update'], hasChanges: true },
  // test[0] is a no-op that was moved from test_instance.test: unchanged, but still listed; its output is a no-op.
  'multi-resource-update.json': {
    ...zero,
    add: 1,
    unchanged: 1,
    resources: ['test_instance.test[0]:no-op', 'test_instance.test[1]:create'],
    hasChanges: true,
  },
  'nested-modules.json': { ...zero, add: 1, resources: ['module.my_module.module.more.test_instance.test:create'], hasChanges: true },
  'requires-replace.json': { ...zero, replace: 1, resources: ['test_instance.test:delete,create'], hasChanges: true },
  'sensitive-values.json': { ...zero, add: 1, outputChanges: 1, resources: ['test_instance.test:create'], hasChanges: true },
};

const load = (file: string) => JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as ShowJsonPlan;

describe('summarisePlan on the real terraform show -json fixtures', () => {
  it('has an expectation for every fixture plan (a new fixture must get one)', () => {
    expect(
      readdirSync(FIXTURES)
        .filter((f) => f.endsWith('.json'))
        .sort(),
    ).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(Object.entries(EXPECTED))('counts %s exactly', (file, expected) => {
    const { summary, hasChanges } = summarisePlan(load(file));
    const { resources, hasChanges: expectedHasChanges, ...counts } = expected;
    expect(summary).toEqual({ ...counts, resources: summary.resources });
    expect(summary.resources.map((r) => `${r.address}:${r.actions.join(',')}`)).toEqual(resources);
    expect(hasChanges).toBe(expectedHasChanges);
    expect(() => planSummarySchema.parse(summary)).not.toThrow();
  });
});

// No fixture exercises these actions; the shapes follow the documented JSON output format (terraform internals/command/jsonplan).
describe('summarisePlan on actions the fixtures lack', () => {
  const rc = (address: string, actions: string[], importing?: object) => ({ address, change: { actions, ...(importing ? { importing } : {}) } });

  it('counts create-before-destroy replacement as a replace, not an add and a destroy', () => {
    const { summary } = summarisePlan({ resource_changes: [rc('a.b', ['create', 'delete']), rc('a.c', ['delete', 'create'])] });
    expect(summary).toMatchObject({ replace: 2, add: 0, destroy: 0 });
  });

  it('counts reads, forgets and imports, and an import with no other change still needs applying', () => {
    const { summary, hasChanges } = summarisePlan({
      resource_changes: [rc('data.x.y', ['read']), rc('a.gone', ['forget']), rc('a.imported', ['no-op'], { id: 'i-123' })],
    });
    expect(summary).toMatchObject({ read: 1, forget: 1, import: 1, unchanged: 1 });
    expect(summary.resources.map((r) => r.address)).toEqual(['data.x.y', 'a.gone', 'a.imported']);
    expect(hasChanges).toBe(true);
  });

  it('reports no changes for an all-no-op plan, and changes for an output-only change', () => {
    expect(summarisePlan({ resource_changes: [rc('a.b', ['no-op'])], output_changes: { o: { actions: ['no-op'] } } }).hasChanges).toBe(false);
    const outputOnly = summarisePlan({ resource_changes: [rc('a.b', ['no-op'])], output_changes: { o: { actions: ['update'] } } });
    expect(outputOnly.hasChanges).toBe(true);
    expect(outputOnly.summary.outputChanges).toBe(1);
    expect(outputOnly.summary.resources).toEqual([]);
  });
});
