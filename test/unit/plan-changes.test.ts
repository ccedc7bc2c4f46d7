/**
 * The plan as an approver reads it (lambdas/domain/plan-changes.ts), from real tools' plan documents: Terraform's
 * `show -json` fixtures (masked the way the runner masks them) and Pulumi's preview JSON.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { maskSensitivePlanValues } from '../../runner-image/src/drivers/terraform/plan-json';
import { maskPulumiSecrets } from '../../runner-image/src/drivers/pulumi/preview-json';
import {
  changesFromPulumiPreview,
  changesFromTerraformPlan,
  diffAttributes,
  KNOWN_AFTER_APPLY,
  PLAN_CHANGES_LIMITS,
  SENSITIVE,
} from '../../lambdas/domain/plan-changes';

const fixture = (dir: string, name: string) =>
  JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', dir, `${name}.json`), 'utf8')) as Record<string, unknown>;
const terraform = (name: string) => changesFromTerraformPlan(maskSensitivePlanValues(fixture('terraform/show-json', name)));

it('names the attributes that force a replacement, and shows what is known only after apply', () => {
  const plan = terraform('requires-replace');
  expect(plan.resources).toEqual([
    {
      address: 'test_instance.test',
      action: 'replace',
      replaceBecause: ['ami'],
      attributes: [
        { path: 'ami', before: '"bar"', after: '"force-replace"' },
        { path: 'id', before: '"placeholder"', after: KNOWN_AFTER_APPLY },
      ],
    },
  ]);
});

it('shows a sensitive value as (sensitive), never the value', () => {
  const raw = fixture('terraform/show-json', 'sensitive-values');
  const secret = (raw.resource_changes as Array<{ change: { after: { ami: string } } }>)[0].change.after.ami;
  const plan = changesFromTerraformPlan(maskSensitivePlanValues(raw));
  expect(plan.resources[0].attributes).toEqual([
    { path: 'ami', after: SENSITIVE },
    { path: 'id', after: KNOWN_AFTER_APPLY },
  ]);
  expect(JSON.stringify(plan)).not.toContain(secret);
});

it('lists the drift the refresh found apart from the changes the plan makes', () => {
  const plan = terraform('drift');
  expect(plan.drift).toEqual([{ address: 'test_instance.should_refresh', attributes: [{ path: 'ami', before: '"refresh-me"', after: '"refreshed"' }] }]);
  expect(plan.resources.map((r) => `${r.action} ${r.address}`)).toEqual(['update test_instance.no_refresh', 'update test_instance.should_refresh']);
});

it('leaves out what does not change, counts outputs, and walks nested values to their leaves', () => {
  expect(terraform('basic-create').outputs).toEqual([{ path: 'test', after: '"bar"' }]);
  expect(terraform('basic-delete').resources.map((r) => `${r.action} ${r.address}`)).toEqual(['update test_instance.test', 'delete test_instance.test-delete']);
  expect(diffAttributes({ tags: { a: '1', b: '2' }, list: [1, 2] }, { tags: { a: '1', b: '3' }, list: [1] })).toEqual([
    { path: 'list.1', before: '2' },
    { path: 'tags.b', before: '"2"', after: '"3"' },
  ]);
});

it('bounds what it returns: at most 100 attributes per resource, flagged when more changed', () => {
  const before = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`k${String(i).padStart(3, '0')}`, 'a']));
  const after = Object.fromEntries(Object.keys(before).map((k) => [k, 'b']));
  const plan = changesFromTerraformPlan({ resource_changes: [{ address: 'x.y', change: { actions: ['update'], before, after } }] });
  expect(plan.resources[0].attributes).toHaveLength(PLAN_CHANGES_LIMITS.attributes);
  expect(plan.resources[0].attributesTruncated).toBe(true);
});

it("reads Pulumi previews: steps by URN with their inputs' differences, the stack and Pulumi's bookkeeping left out", () => {
  const creates = changesFromPulumiPreview(maskPulumiSecrets(fixture('pulumi', 'preview-creates')) as Record<string, unknown>);
  expect(creates.resources.length).toBeGreaterThan(0);
  expect(creates.resources.every((r) => r.action === 'create' && !r.address.includes('pulumi:pulumi:Stack'))).toBe(true);
  expect(JSON.stringify(creates)).not.toContain('__defaults');
  const deletes = changesFromPulumiPreview(fixture('pulumi', 'preview-deletes'));
  expect(deletes.resources.every((r) => r.action === 'delete')).toBe(true);
});
