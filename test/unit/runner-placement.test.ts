/** Which runner a job runs on: pre-flight freezes an org runner's placement only when the deployment permits it. */
import { orgRunnerPatternProblem, runPreflight, runnerPlacementOf, runnerPlacementProblem } from '../../lambdas/domain/preflight';
import { runnerSchema, stackJobSchema, type Runner } from '../../lambdas/domain/schemas';
import { freezeStackJob } from '../../lambdas/domain/stack-job';
import { orgRunnerPlacement } from '../../lambdas/workflow/lifecycle';
import { change, NOW, preflightDeps, standardCatalog } from '../support/domain-fixtures';

const PERMITTED = ['arn:aws:ecs:us-east-1:111122223333:task-definition/stackjobs-org-{org}:*'];
/** The networks the deployment gives each org's runners (stackjobs:orgRunnerNetworks). */
const CLUSTER = (org: string) => `arn:aws:ecs:us-east-1:111122223333:cluster/${org}-runners`;
const NETWORKS = {
  acmecorp: { clusters: [CLUSTER('acmecorp')], subnets: ['subnet-0a1', 'subnet-0b2'], securityGroups: ['sg-0c3'] },
  globex: { clusters: [CLUSTER('globex')], subnets: ['subnet-0a1', 'subnet-0b2', 'subnet-9g1'], securityGroups: ['sg-0c3', 'sg-9g2'] },
  corp: { clusters: [CLUSTER('corp')], subnets: ['subnet-0a1', 'subnet-0b2'], securityGroups: ['sg-0c3'] },
  'acme-corp': { clusters: [CLUSTER('acme-corp')], subnets: ['subnet-0a1', 'subnet-0b2'], securityGroups: ['sg-0c3'] },
};
const orgRunner = (o: Partial<Runner> = {}): Runner =>
  runnerSchema.parse({
    id: 'sjr_acmecorp_private',
    scope: 'org',
    org: 'acmecorp',
    cluster: 'arn:aws:ecs:us-east-1:111122223333:cluster/acmecorp-runners',
    taskDefinition: 'arn:aws:ecs:us-east-1:111122223333:task-definition/stackjobs-org-acmecorp:3',
    subnets: ['subnet-0a1', 'subnet-0b2'],
    securityGroups: ['sg-0c3'],
    isDefault: true,
    ...o,
  });

async function frozen(runner: Runner | undefined, permitted?: string[]) {
  const catalog = standardCatalog();
  if (runner) catalog.add('runners', 'acmecorp', runner);
  const outcome = await runPreflight(change(), preflightDeps({ catalog, orgRunnerTaskDefinitionArns: permitted, orgRunnerNetworks: NETWORKS }));
  expect(outcome.passed).toBe(true);
  const job = freezeStackJob(change(), outcome, 'sj_01jsrnmwpnnc6n62h06xafcgxv', NOW);
  expect(stackJobSchema.parse(job)).toEqual(job); // the additive fields are part of the snapshot schema
  return job;
}

describe('freezing the runner into the snapshot', () => {
  it('freezes the org runner placement when its task definition matches a permitted pattern', async () => {
    const job = await frozen(orgRunner(), PERMITTED);
    expect(job.spec.essentials.stackJobRunner).toEqual({
      id: 'sjr_acmecorp_private',
      cluster: 'arn:aws:ecs:us-east-1:111122223333:cluster/acmecorp-runners',
      taskDefinition: 'arn:aws:ecs:us-east-1:111122223333:task-definition/stackjobs-org-acmecorp:3',
      subnets: ['subnet-0a1', 'subnet-0b2'],
      securityGroups: ['sg-0c3'],
    });
    expect(orgRunnerPlacement(job)).toEqual({
      cluster: 'arn:aws:ecs:us-east-1:111122223333:cluster/acmecorp-runners',
      taskDefinition: 'arn:aws:ecs:us-east-1:111122223333:task-definition/stackjobs-org-acmecorp:3',
      subnets: ['subnet-0a1', 'subnet-0b2'],
      securityGroups: ['sg-0c3'],
    });
  });

  it('records the org runner by id only (platform runner task) when no pattern is configured or none matches', async () => {
    for (const permitted of [undefined, [], ['arn:aws:ecs:us-east-1:111122223333:task-definition/other-{org}:*']]) {
      const job = await frozen(orgRunner(), permitted);
      expect(job.spec.essentials.stackJobRunner).toEqual({ id: 'sjr_acmecorp_private' });
      expect(orgRunnerPlacement(job)).toBeUndefined();
    }
  });

  it('freezes no placement for an org runner without a cluster, task definition or subnets, nor for the platform default', async () => {
    expect(runnerPlacementOf(orgRunner({ cluster: undefined }), 'acmecorp', PERMITTED, NETWORKS)).toBeUndefined();
    expect(runnerPlacementOf(orgRunner({ taskDefinition: undefined }), 'acmecorp', PERMITTED, NETWORKS)).toBeUndefined();
    expect(runnerPlacementOf(orgRunner({ subnets: [] }), 'acmecorp', PERMITTED, NETWORKS)).toBeUndefined();
    expect(runnerPlacementOf(orgRunner({ scope: 'platform' }), 'acmecorp', PERMITTED, NETWORKS)).toBeUndefined();
    const job = await frozen(undefined, PERMITTED);
    expect(job.spec.essentials.stackJobRunner).toEqual({ id: 'sjr_platform_default' });
  });

  it('needs the security groups as well (ECS is given both network lists as registered)', () => {
    expect(runnerPlacementOf(orgRunner({ securityGroups: [] }), 'acmecorp', PERMITTED, NETWORKS)).toBeUndefined();
  });
});

describe("an org runner names only its own org's task definitions", () => {
  it("never freezes another org's task definition, though an org admin registers a runner naming it", async () => {
    // What an acmecorp admin can write (PUT /v1/orgs/acmecorp/runners/steal): globex's task definition, whose task role
    // holds globex's credentials. With one pattern for every org (stackjobs-org-*) this was frozen and run.
    const steal = orgRunner({ id: 'steal', taskDefinition: 'arn:aws:ecs:us-east-1:111122223333:task-definition/stackjobs-org-globex:7' });
    expect(runnerPlacementOf(steal, 'acmecorp', PERMITTED, NETWORKS)).toBeUndefined();
    // The same task definition in globex's own runner (its cluster) is globex's to use.
    expect(runnerPlacementOf({ ...steal, cluster: CLUSTER('globex') }, 'globex', PERMITTED, NETWORKS)).toBeDefined();
    const job = await frozen(steal, PERMITTED);
    expect(job.spec.essentials.stackJobRunner).toEqual({ id: 'steal' });
    // An org whose name ends another's (corp, acme-corp) matches only its own family.
    const corp = orgRunner({ taskDefinition: 'arn:aws:ecs:us-east-1:111122223333:task-definition/stackjobs-org-acme-corp:1' });
    expect(runnerPlacementOf({ ...corp, cluster: CLUSTER('corp') }, 'corp', PERMITTED, NETWORKS)).toBeUndefined();
    expect(runnerPlacementOf({ ...corp, cluster: CLUSTER('acme-corp') }, 'acme-corp', PERMITTED, NETWORKS)).toBeDefined();
  });

  it('refuses patterns that cannot keep an org to its own: no {org}, a * before it, anything after it', () => {
    const base = 'arn:aws:ecs:us-east-1:111122223333:task-definition/';
    expect(orgRunnerPatternProblem(`${base}stackjobs-org-{org}:*`)).toBeUndefined();
    expect(orgRunnerPatternProblem(`${base}stackjobs-org-{org}:3`)).toBeUndefined();
    expect(orgRunnerPatternProblem(`${base}stackjobs-org-*`)).toMatch(/not a task-definition ARN pattern ending in :<revision> or :\*/);
    expect(orgRunnerPatternProblem(`${base}stackjobs-org-*:*`)).toMatch(/must end its family with \{org\}/);
    expect(orgRunnerPatternProblem(`${base}stackjobs-{org}-runner:*`)).toMatch(/must end its family with \{org\}/);
    expect(orgRunnerPatternProblem(`${base}stackjobs-*-{org}:*`)).toMatch(/no \* in its family/);
    // Such a pattern, given anyway (an old deployment's setting), permits nothing.
    expect(runnerPlacementOf(orgRunner(), 'acmecorp', [`${base}stackjobs-org-*:*`], NETWORKS)).toBeUndefined();
  });
});

describe("an org runner uses only its own org's cluster", () => {
  it("never places a runner in another org's cluster, nor in any cluster when the deployment names none for its org", async () => {
    // What an acmecorp admin can write: globex's cluster, where globex's people list and describe tasks (and a task's
    // description carries its container overrides: the task token).
    const intoGlobex = orgRunner({ id: 'into-globex-cluster', cluster: CLUSTER('globex') });
    expect(runnerPlacementProblem(intoGlobex, 'acmecorp', PERMITTED, NETWORKS)).toBe(
      `${CLUSTER('globex')} is not among org acmecorp's runner networks (stackjobs:orgRunnerNetworks)`,
    );
    const job = await frozen(intoGlobex, PERMITTED);
    expect(job.spec.essentials.stackJobRunner).toEqual({ id: 'into-globex-cluster' });
    expect(orgRunnerPlacement(job)).toBeUndefined();
    // An entry written before clusters were bound permits none: the org's runners wait for the deployment to name them.
    const { clusters: _none, ...unbound } = NETWORKS.acmecorp;
    expect(runnerPlacementProblem(orgRunner(), 'acmecorp', PERMITTED, { acmecorp: unbound })).toBe(
      `${CLUSTER('acmecorp')} is not among org acmecorp's runner networks (stackjobs:orgRunnerNetworks)`,
    );
    // Its own cluster, named as the deployment names it: placed.
    expect(runnerPlacementOf(orgRunner(), 'acmecorp', PERMITTED, NETWORKS)?.cluster).toBe(CLUSTER('acmecorp'));
  });
});

describe("an org runner uses only its own org's networks", () => {
  it('never places a runner naming a subnet or security group the deployment gives another org (or none), though an org admin registers it', async () => {
    // What an acmecorp admin can write: globex's subnet and security group, which reach globex's databases.
    const intoGlobex = orgRunner({ id: 'into-globex', subnets: ['subnet-9g1'], securityGroups: ['sg-0c3'] });
    expect(runnerPlacementOf(intoGlobex, 'acmecorp', PERMITTED, NETWORKS)).toBeUndefined();
    expect(runnerPlacementProblem(intoGlobex, 'acmecorp', PERMITTED, NETWORKS)).toBe(
      "subnet-9g1 is not among org acmecorp's runner networks (stackjobs:orgRunnerNetworks)",
    );
    const sg = orgRunner({ securityGroups: ['sg-0c3', 'sg-9g2'] });
    expect(runnerPlacementOf(sg, 'acmecorp', PERMITTED, NETWORKS)).toBeUndefined();
    const job = await frozen(intoGlobex, PERMITTED);
    expect(job.spec.essentials.stackJobRunner).toEqual({ id: 'into-globex' });
    expect(orgRunnerPlacement(job)).toBeUndefined();
    // No networks configured, or none for this org: no org runner is placed at all.
    expect(runnerPlacementOf(orgRunner(), 'acmecorp', PERMITTED)).toBeUndefined();
    expect(runnerPlacementOf(orgRunner(), 'acmecorp', PERMITTED, { globex: NETWORKS.globex })).toBeUndefined();
    // An org named like an Object property is just an org without networks.
    expect(
      runnerPlacementOf(
        orgRunner({ taskDefinition: 'arn:aws:ecs:us-east-1:111122223333:task-definition/stackjobs-org-constructor:1' }),
        'constructor',
        PERMITTED,
        NETWORKS,
      ),
    ).toBeUndefined();
    // Its own networks: placed.
    expect(runnerPlacementOf(orgRunner(), 'acmecorp', PERMITTED, NETWORKS)).toBeDefined();
  });
});
