/**
 * The web console on AWS, from the synthesized stack (cdk-nag on): a private bucket read only by its distribution
 * (origin access control), HTTPS only, the security headers and a CSP without unsafe sources whose connect-src names
 * the API, the issuer and the configured sign-in origins; config.json with the API, issuer and client; CORS on the API
 * for the console's origin alone, set without a dependency cycle.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, CfnResource } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { OFFLINE_CONTEXT } from '../../infra/asl';
import { buildStackJobsApp, STACK_NAME } from '../../infra/build';
import { renderResolved } from '../../infra/constructs/nag';
import type { StackJobsStack } from '../../infra/stack-jobs-stack';

interface Resource {
  Type: string;
  Properties: Record<string, unknown>;
  DependsOn?: string[];
  DeletionPolicy?: string;
}
interface Template {
  Resources: Record<string, Resource>;
  Outputs: Record<string, { Value: unknown }>;
}

const ISSUER = OFFLINE_CONTEXT['stackjobs:jwtIssuer'];
const CONSOLE_CLIENT = 'stack-jobs-console-client';
const AUTH_ORIGIN = 'https://stackjobs-test.auth.us-east-1.amazoncognito.com';
const CONTEXT = {
  ...OFFLINE_CONTEXT,
  'stackjobs:jwtAudience': [...OFFLINE_CONTEXT['stackjobs:jwtAudience'], CONSOLE_CLIENT],
  'stackjobs:consoleClientId': CONSOLE_CLIENT,
  'stackjobs:consoleAuthOrigins': `${AUTH_ORIGIN}/`,
};

function synth(context: Record<string, unknown>, nag: boolean, change?: (s: StackJobsStack) => void) {
  const app = new App({ context });
  const stack = buildStackJobsApp(app, { nag });
  change?.(stack);
  const assembly = app.synth(); // with nag, throws on any unacknowledged finding
  const report = path.join(assembly.directory, 'validation-report.json');
  const violations = fs.existsSync(report)
    ? (JSON.parse(fs.readFileSync(report, 'utf8')) as { pluginReports: Array<{ violations: unknown[] }> }).pluginReports.flatMap((p) => p.violations)
    : [];
  return { stack, dir: assembly.directory, template: assembly.getStackByName(STACK_NAME).template as Template, violations };
}

let stack: StackJobsStack;
let template: Template;
let assemblyDir: string;
let violations: unknown[];
beforeAll(() => {
  ({ stack, template, dir: assemblyDir, violations } = synth(CONTEXT, true));
});

const idOf = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as CfnResource);
const ofType = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);
const only = (type: string) => {
  const found = ofType(type);
  expect(found).toHaveLength(1);
  return found[0][1].Properties;
};
/** A CloudFormation value as cdk-nag prints it: `<LogicalId.Attr>` for a GetAtt. */
const rendered = (v: unknown) => renderResolved(v);

/** Directive -> sources, from the distribution's Content-Security-Policy. */
function csp(): Record<string, string[]> {
  const config = only('AWS::CloudFront::ResponseHeadersPolicy').ResponseHeadersPolicyConfig as {
    SecurityHeadersConfig: { ContentSecurityPolicy: { ContentSecurityPolicy: unknown; Override: boolean } };
  };
  expect(config.SecurityHeadersConfig.ContentSecurityPolicy.Override).toBe(true);
  return Object.fromEntries(
    rendered(config.SecurityHeadersConfig.ContentSecurityPolicy.ContentSecurityPolicy)
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .map(([name, ...sources]) => [name, sources]),
  );
}

/** The BucketDeployment custom resources of the console, with the files of each source as staged in the assembly. */
function uploads() {
  return ofType('Custom::CDKBucketDeployment').map(([id, r]) => ({
    id,
    r,
    sources: (r.Properties.SourceObjectKeys as string[]).map((key) => {
      const dir = path.join(assemblyDir, `asset.${key.replace(/\.zip$/, '')}`);
      return Object.fromEntries(fs.readdirSync(dir).map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]));
    }),
  }));
}

describe('the web console', () => {
  it('is cdk-nag clean', () => {
    expect(violations).toEqual([]);
  });

  it('keeps its files in a private, encrypted, TLS-only, access-logged bucket, retained like the stack’s other buckets', () => {
    const bucketId = idOf(stack.console.bucket);
    const bucket = template.Resources[bucketId];
    expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(bucket.Properties.BucketEncryption).toEqual({ ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] });
    expect(bucket.Properties.LoggingConfiguration).toEqual({
      DestinationBucketName: { Ref: idOf(stack.storage.accessLogsBucket) },
      LogFilePrefix: 'console/',
    });
    expect(bucket.DeletionPolicy).toBe('Retain');
    expect(bucket.Properties.WebsiteConfiguration).toBeUndefined();
    const policy = ofType('AWS::S3::BucketPolicy').find(([, p]) => JSON.stringify(p.Properties.Bucket) === JSON.stringify({ Ref: bucketId }))![1];
    const statements = (policy.Properties.PolicyDocument as { Statement: Array<Record<string, unknown>> }).Statement;
    expect(statements).toEqual(expect.arrayContaining([expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]));
    // The only reader: CloudFront, for this distribution alone.
    const allows = statements.filter((s) => s.Effect === 'Allow');
    expect(allows).toHaveLength(1);
    expect(allows[0]).toMatchObject({
      Action: 's3:GetObject',
      Principal: { Service: 'cloudfront.amazonaws.com' },
      Condition: { StringEquals: { 'AWS:SourceArn': expect.anything() } },
    });
    expect(JSON.stringify(allows[0].Condition)).toContain(idOf(stack.console.distribution));
  });

  it('serves it through CloudFront with an origin access control, HTTPS only, index.html for the root and for app routes, logged', () => {
    const config = only('AWS::CloudFront::Distribution').DistributionConfig as Record<string, unknown> & {
      Origins: Array<{ OriginAccessControlId?: unknown; S3OriginConfig?: { OriginAccessIdentity: string }; DomainName: unknown }>;
      DefaultCacheBehavior: Record<string, unknown>;
    };
    expect(config.Origins).toHaveLength(1);
    expect(rendered(config.Origins[0].DomainName)).toBe(`<${idOf(stack.console.bucket)}.RegionalDomainName>`);
    expect(rendered(config.Origins[0].OriginAccessControlId)).toMatch(/^<Console\w*OriginAccessControl\w*\.Id>$/);
    expect(config.Origins[0].S3OriginConfig).toEqual({ OriginAccessIdentity: '' });
    expect(only('AWS::CloudFront::OriginAccessControl').OriginAccessControlConfig).toMatchObject({
      OriginAccessControlOriginType: 's3',
      SigningBehavior: 'always',
      SigningProtocol: 'sigv4',
    });
    expect(config.DefaultCacheBehavior).toMatchObject({
      ViewerProtocolPolicy: 'redirect-to-https',
      AllowedMethods: ['GET', 'HEAD'],
      ResponseHeadersPolicyId: { Ref: idOf(stack.console.responseHeadersPolicy) },
    });
    expect(config.DefaultRootObject).toBe('index.html');
    expect(config.CustomErrorResponses).toEqual([
      { ErrorCode: 403, ResponseCode: 200, ResponsePagePath: '/index.html' },
      { ErrorCode: 404, ResponseCode: 200, ResponsePagePath: '/index.html' },
    ]);
    expect(config.Logging).toEqual({ Bucket: { 'Fn::GetAtt': [idOf(stack.storage.accessLogsBucket), 'RegionalDomainName'] }, Prefix: 'console-cdn/' });
  });

  it('sends HSTS, nosniff, DENY framing and no referrer with every response', () => {
    const headers = (
      only('AWS::CloudFront::ResponseHeadersPolicy').ResponseHeadersPolicyConfig as { SecurityHeadersConfig: Record<string, Record<string, unknown>> }
    ).SecurityHeadersConfig;
    expect(headers.StrictTransportSecurity.AccessControlMaxAgeSec).toBeGreaterThanOrEqual(31536000);
    expect(headers.StrictTransportSecurity.Override).toBe(true);
    expect(headers.ContentTypeOptions).toEqual({ Override: true });
    expect(headers.FrameOptions).toEqual({ FrameOption: 'DENY', Override: true });
    expect(headers.ReferrerPolicy).toEqual({ ReferrerPolicy: 'no-referrer', Override: true });
  });

  it('has a strict CSP: own scripts and styles only, nothing inline or evaluated, no framing, connect-src the API, issuer and sign-in origins', () => {
    const policy = csp();
    expect(JSON.stringify(policy)).not.toMatch(/unsafe-|\*|https?:(?!\/\/)|blob:/);
    expect(policy).toEqual({
      'default-src': ["'none'"],
      'script-src': ["'self'"],
      'style-src': ["'self'"],
      'img-src': ["'self'", 'data:'],
      'font-src': ["'self'"],
      'connect-src': ["'self'", `<${idOf(stack.api.httpApi)}.ApiEndpoint>`, new URL(ISSUER).origin, AUTH_ORIGIN],
      'frame-ancestors': ["'none'"],
      'base-uri': ["'none'"],
      'form-action': ["'self'"],
    });
  });

  it('uploads config.json with the API URL (no trailing slash), the issuer and the console client, revalidated on every load', () => {
    const withConfig = uploads().filter((u) => u.sources.some((files) => 'config.json' in files));
    expect(withConfig).toHaveLength(1);
    const [{ r, sources }] = withConfig;
    const index = sources.findIndex((files) => 'config.json' in files);
    const config = JSON.parse(sources[index]['config.json']) as Record<string, string>;
    const markers = (r.Properties.SourceMarkers as Array<Record<string, unknown>>)[index];
    expect({ ...config, apiUrl: rendered(markers[config.apiUrl]) }).toEqual({
      mode: 'oidc',
      apiUrl: `<${idOf(stack.api.httpApi)}.ApiEndpoint>`,
      issuer: ISSUER,
      clientId: CONSOLE_CLIENT,
      scope: 'openid profile email',
    });
    expect(r.Properties).toMatchObject({ DestinationBucketName: { Ref: idOf(stack.console.bucket) }, SystemMetadata: { 'cache-control': 'no-cache' } });
  });

  it('uploads the hashed assets first, cached for a year, and deletes nothing a tab opened before the deploy may still load', () => {
    const all = uploads();
    expect(all).toHaveLength(2);
    const assets = all.find((u) => (u.r.Properties.Include as string[] | undefined)?.includes('assets/*'))!;
    const entry = all.find((u) => u !== assets)!;
    expect(assets.r.Properties).toMatchObject({ Exclude: ['*'], SystemMetadata: { 'cache-control': 'public, max-age=31536000, immutable' }, Prune: false });
    expect(entry.r.Properties).toMatchObject({ Exclude: ['assets/*'], Prune: false });
    expect(entry.r.DependsOn).toContain(assets.id);
    // Bundling is off in this synth: a placeholder stands in for the build, which cdk deploy makes (console-content.test.ts).
    expect(Object.keys(assets.sources[0])).toEqual(['index.html']);
  });

  it('outputs ConsoleUrl, the distribution’s https URL', () => {
    expect(rendered(template.Outputs.ConsoleUrl.Value)).toBe(`https://<${idOf(stack.console.distribution)}.DomainName>`);
  });
});

describe("the API's CORS", () => {
  const cors = () => {
    const found = ofType('Custom::AWS');
    expect(found).toHaveLength(1);
    return found[0][1].Properties;
  };
  const call = (which: 'Create' | 'Update' | 'Delete') => JSON.parse(rendered(cors()[which])) as { action: string; parameters: Record<string, unknown> };

  it("allows the console's origin alone, the API's methods, the console's headers, ETag readable, for an hour, without credentials", () => {
    const create = call('Create');
    expect(create).toMatchObject({ action: 'UpdateApi', parameters: { ApiId: `<${idOf(stack.api.httpApi)}>` } });
    expect(create.parameters.CorsConfiguration).toEqual({
      AllowOrigins: [`https://<${idOf(stack.console.distribution)}.DomainName>`],
      AllowMethods: ['GET', 'POST', 'PUT', 'DELETE'],
      AllowHeaders: ['authorization', 'content-type', 'if-none-match', 'idempotency-key'],
      ExposeHeaders: ['etag'],
      MaxAge: 3600,
      AllowCredentials: false,
    });
    expect(call('Update')).toEqual(create);
    expect(call('Delete')).toMatchObject({ action: 'DeleteCorsConfiguration', parameters: { ApiId: `<${idOf(stack.api.httpApi)}>` } });
    // A replaced API's configuration went with it, and the policy no longer names it: neither may fail the delete.
    expect((call('Delete') as { ignoreErrorCodesMatching?: string }).ignoreErrorCodesMatching).toBe('NotFoundException|AccessDeniedException');
  });

  it('is set beside the API, not on it: the API does not depend on the distribution, whose CSP names the API (no cycle)', () => {
    const api = template.Resources[idOf(stack.api.httpApi)];
    expect(api.Properties.CorsConfiguration).toBeUndefined();
    expect(JSON.stringify(api)).not.toContain(idOf(stack.console.distribution));
  });

  it('may change the CORS configuration of this API only', () => {
    const statements = ofType('AWS::IAM::Policy')
      .map(([, p]) => (p.Properties.PolicyDocument as { Statement: Array<{ Action: string | string[]; Resource: unknown }> }).Statement)
      .flat()
      .filter((s) => [s.Action].flat().some((a) => a.startsWith('apigateway:')));
    expect(statements.map((s) => [s.Action, rendered(s.Resource)])).toEqual([
      ['apigateway:PATCH', `arn:<AWS::Partition>:apigateway:<AWS::Region>::/apis/<${idOf(stack.api.httpApi)}>`],
      ['apigateway:DELETE', `arn:<AWS::Partition>:apigateway:<AWS::Region>::/apis/<${idOf(stack.api.httpApi)}>/cors`],
    ]);
  });

  it('is written again whenever CloudFormation changes the API resource', () => {
    const fingerprint = (t: Template) => Object.values(t.Resources).find((r) => r.Type === 'Custom::AWS')!.Properties.ApiFingerprint;
    const changed = synth(CONTEXT, false, (s) => (s.api.httpApi.node.defaultChild as CfnResource).addPropertyOverride('Description', 'changed')).template;
    expect(fingerprint(template)).toMatch(/^[0-9a-f]{16}$/);
    expect(fingerprint(changed)).not.toBe(fingerprint(template));
  });
});

describe('sign-in origins', () => {
  it('warns at synth when a Cognito issuer comes without stackjobs:consoleAuthOrigins (its token endpoint is elsewhere)', () => {
    const warned = (s: StackJobsStack) =>
      Annotations.fromStack(s)
        .findWarning('*', Match.stringLikeRegexp('consoleAuthOrigins'))
        .map((w) => w.id);
    expect(warned(synth(OFFLINE_CONTEXT, false).stack)).toEqual(['/StackJobs/Console']);
    expect(warned(stack)).toEqual([]);
  });
});
