/**
 * cdk-nag acknowledgements for IAM5 (wildcard) findings, one per finding, each with its reason. cdk-nag names a
 * finding by the resource string with CloudFormation references rendered as `<Ref>` / `<LogicalId.Attr>`; the
 * helper renders the same way so acknowledgements are written against the values the code grants, not copies.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Renders a (possibly tokenized) string the way cdk-nag prints it in an IAM5 finding id. */
export function nagRender(scope: IConstruct, value: string): string {
  return renderResolved(Stack.of(scope).resolve(value));
}

/** The same for an already resolved CloudFormation value. */
export function renderResolved(resolved: unknown): string {
  const render = (v: unknown): string => {
    if (typeof v === 'string') return v;
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (Array.isArray(o['Fn::Join'])) {
        const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
        return parts.map(render).join(sep);
      }
      if (typeof o.Ref === 'string') return `<${o.Ref}>`;
      if (Array.isArray(o['Fn::GetAtt'])) return `<${(o['Fn::GetAtt'] as string[]).join('.')}>`;
    }
    return JSON.stringify(v);
  };
  return render(resolved);
}

/** Acknowledges `AwsSolutions-IAM5[Resource::<resource>]` on `scope` for each resource, with its reason. */
export function acknowledgeWildcardResources(scope: IConstruct, resources: Array<[resource: string, reason: string]>): void {
  for (const [resource, reason] of resources) Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${nagRender(scope, resource)}]`, reason });
}

/**
 * Acknowledges IAM4 for the AWS managed policy CDK's own custom-resource handlers (BucketDeployment, AwsCustomResource)
 * get: it grants writing their logs and nothing else.
 */
export function acknowledgeCdkHandlerLogs(handler: IConstruct): void {
  Validations.of(handler).acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    reason: "CDK's own custom-resource handler; the AWS managed policy grants writing its logs (CreateLogGroup, CreateLogStream, PutLogEvents) only.",
  });
}
