/** How the CLI words a plan policy evaluation: the outcome line says what the approver faces, and nothing it does not. */
import { renderPolicyResults } from '../../cli/render';
import type { PolicyEvaluation, PolicyRuleResult } from '../../lambdas/domain/schemas';

const rule = (effect: PolicyRuleResult['effect'], passed: boolean): PolicyRuleResult => ({
  policy: 'production-guard',
  source: 'org',
  rule: effect.replace('_', '-'),
  effect,
  ...(effect === 'require_approvals' ? { approvals: 2 } : {}),
  passed,
  message: `the ${effect} rule`,
});
const outcomeOf = (evaluation: Pick<PolicyEvaluation, 'outcome' | 'results' | 'requiredApprovals'>) =>
  /Policy outcome: (.*)$/m.exec(renderPolicyResults(evaluation))![1];

describe('the policy outcome line', () => {
  it('says only that two approvals are needed when a require_approvals rule holds and no warn rule does', () => {
    // The example plan policy on the example plan: deny passes, require_approvals holds (outcome `warned` in the API).
    expect(outcomeOf({ outcome: 'warned', requiredApprovals: 2, results: [rule('deny', true), rule('require_approvals', false), rule('warn', true)] })).toBe(
      '2 distinct approvals needed',
    );
  });

  it('says "warnings for the approver" when a warn rule holds, with the approvals when one is needed too', () => {
    expect(outcomeOf({ outcome: 'warned', results: [rule('warn', false)] })).toBe('warnings for the approver');
    expect(outcomeOf({ outcome: 'warned', requiredApprovals: 2, results: [rule('warn', false), rule('require_approvals', false)] })).toBe(
      'warnings for the approver; 2 distinct approvals needed',
    );
  });
});
