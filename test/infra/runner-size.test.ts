/** The runner task's size: 1 vCPU and 2 GB unless stackjobs:runnerCpu / stackjobs:runnerMemoryMiB say otherwise, and only sizes Fargate runs. */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { OFFLINE_CONTEXT } from '../../infra/asl';
import { buildStackJobsApp } from '../../infra/build';

/** The platform runner's task definition (the stack has one) as synthesized with this context. */
function runnerTaskSize(context: Record<string, unknown>) {
  const app = new App({ context: { ...OFFLINE_CONTEXT, ...context } });
  const stack = buildStackJobsApp(app, { nag: false });
  const defs = Object.values(Template.fromStack(stack).findResources('AWS::ECS::TaskDefinition'));
  expect(defs).toHaveLength(1);
  const p = defs[0].Properties as { Cpu: string; Memory: string; RequiresCompatibilities: string[] };
  return { cpu: p.Cpu, memory: p.Memory, fargate: p.RequiresCompatibilities.includes('FARGATE') };
}

it('is 1 vCPU and 2 GB by default', () => {
  expect(runnerTaskSize({})).toEqual({ cpu: '1024', memory: '2048', fargate: true });
});

it('takes another Fargate size from context', () => {
  expect(runnerTaskSize({ 'stackjobs:runnerCpu': '2048', 'stackjobs:runnerMemoryMiB': '8192' })).toEqual({ cpu: '2048', memory: '8192', fargate: true });
  expect(runnerTaskSize({ 'stackjobs:runnerCpu': 512, 'stackjobs:runnerMemoryMiB': 1024 })).toEqual({ cpu: '512', memory: '1024', fargate: true });
});

it('refuses at synth a size Fargate would refuse at deploy, saying what goes', () => {
  expect(() => runnerTaskSize({ 'stackjobs:runnerCpu': '1000' })).toThrow(
    /stackjobs:runnerCpu must be one of Fargate's CPU values: 256, 512, 1024, 2048, 4096, 8192, 16384/,
  );
  expect(() => runnerTaskSize({ 'stackjobs:runnerMemoryMiB': '1024' })).toThrow(
    /stackjobs:runnerMemoryMiB 1024 does not go with 1024 CPU units on Fargate: 2048 to 8192 in steps of 1024/,
  );
  expect(() => runnerTaskSize({ 'stackjobs:runnerCpu': '256', 'stackjobs:runnerMemoryMiB': '4096' })).toThrow(
    /does not go with 256 CPU units on Fargate: 512, 1024, 2048/,
  );
  expect(() => runnerTaskSize({ 'stackjobs:runnerCpu': '8192', 'stackjobs:runnerMemoryMiB': '18432' })).toThrow(/16384 to 61440 in steps of 4096/);
});
