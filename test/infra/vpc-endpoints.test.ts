/** The runner's VPC endpoints: free gateway endpoints always (new VPC), interface endpoints behind a context switch. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { OFFLINE_CONTEXT } from '../../infra/asl';
import { buildStackJobsApp } from '../../infra/build';

type Resource = { Type: string; Properties: Record<string, unknown> };
function endpoints(context: Record<string, unknown> = {}): Resource[] {
  const app = new App({ context: { ...OFFLINE_CONTEXT, ...context } });
  const template = Template.fromStack(buildStackJobsApp(app, { nag: false })).toJSON() as { Resources: Record<string, Resource> };
  return Object.values(template.Resources).filter((r) => r.Type === 'AWS::EC2::VPCEndpoint');
}
const serviceOf = (r: Resource) => JSON.stringify(r.Properties.ServiceName);

describe('the runner VPC endpoints', () => {
  it('gives a new VPC free S3 and DynamoDB gateway endpoints on its private route tables, and no interface endpoint by default', () => {
    const found = endpoints();
    expect(found).toHaveLength(2);
    for (const r of found) {
      expect(r.Properties.VpcEndpointType).toBe('Gateway');
      expect((r.Properties.RouteTableIds as unknown[]).length).toBeGreaterThanOrEqual(2);
    }
    expect(found.map(serviceOf).join(' ')).toMatch(/\.s3/);
    expect(found.map(serviceOf).join(' ')).toMatch(/\.dynamodb/);
  });

  it('adds interface endpoints with private DNS for ECR, STS, Secrets Manager, Step Functions and Logs with stackjobs:interfaceEndpoints', () => {
    const iface = endpoints({ 'stackjobs:interfaceEndpoints': 'true' }).filter((r) => r.Properties.VpcEndpointType === 'Interface');
    expect(iface).toHaveLength(6);
    for (const r of iface) expect(r.Properties.PrivateDnsEnabled).toBe(true);
    const services = iface.map(serviceOf).join(' ');
    for (const s of ['ecr.api', 'ecr.dkr', 'sts', 'secretsmanager', 'states', 'logs']) expect(services).toContain(s);
  });

  it('is cdk-nag clean with the interface endpoints', () => {
    const app = new App({ context: { ...OFFLINE_CONTEXT, 'stackjobs:interfaceEndpoints': 'true' } });
    buildStackJobsApp(app, { nag: true });
    const assembly = app.synth(); // throws on an unacknowledged cdk-nag finding
    const report = path.join(assembly.directory, 'validation-report.json');
    const violations = fs.existsSync(report)
      ? (JSON.parse(fs.readFileSync(report, 'utf8')) as { pluginReports: Array<{ violations: unknown[] }> }).pluginReports.flatMap((p) => p.violations)
      : [];
    expect(violations).toEqual([]);
  });

  it('creates none in an existing VPC (that VPC is the user’s)', () => {
    const vpc = { vpcId: 'vpc-0a1b2c3d', availabilityZones: ['us-east-1a', 'us-east-1b'], privateSubnetIds: ['subnet-0a1b', 'subnet-0c2d'] };
    expect(endpoints({ 'stackjobs:vpc': JSON.stringify(vpc), 'stackjobs:interfaceEndpoints': 'true' })).toEqual([]);
  });
});
