/**
 * The web console (`console/`, a single-page app): a private S3 bucket read by a CloudFront distribution through an
 * origin access control, HTTPS only, every response with the security headers below, browser-history routes answered
 * with `index.html`. The build and a `config.json` naming the API, the issuer and the console's OIDC client are
 * uploaded at deploy.
 */
import { Annotations, DefaultStackSynthesizer, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import { Validations } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { ensureConsoleBuilt } from '../console-build';
import { consoleContentSecurityPolicy } from '../console-headers';
import { acknowledgeCdkHandlerLogs, acknowledgeWildcardResources } from './nag';

/** How the console signs in (context `stackjobs:consoleClientId`, `stackjobs:consoleAuthOrigins`). */
export interface ConsoleSignIn {
  /**
   * The console's OIDC client: a public client (no secret) using authorization code + PKCE. The console sends its ID
   * token, whose `aud` is this id, so it must be one of the API's JWT audiences.
   */
  readonly clientId: string;
  /**
   * Origins (`https://host`) the console's OIDC client calls besides the issuer's own, for the CSP's `connect-src`:
   * Cognito serves the token endpoint from the user pool's domain, not from the issuer's host.
   * @default none
   */
  readonly authOrigins?: string[];
}

export interface WebConsoleProps extends ConsoleSignIn {
  /** The API's base URL without the trailing slash, which is also its origin (Api.endpoint). */
  readonly apiEndpoint: string;
  /** The OIDC issuer the console signs in with: the API's JWT issuer. */
  readonly issuer: string;
  /** Receives the bucket's server access logs (`console/`) and the distribution's standard logs (`console-cdn/`); ACLs enabled. */
  readonly logsBucket: s3.IBucket;
  /** Retention of the upload function's log group. */
  readonly logRetention: logs.RetentionDays;
  /**
   * Keep the bucket when the stack is deleted, like the stack's other buckets.
   * @default true
   */
  readonly retainData?: boolean;
  /**
   * A built console to upload (a folder with index.html), for tests.
   * @default ensureConsoleBuilt()'s folder; a placeholder page when the stack is synthesized without bundling
   */
  readonly assetDir?: string;
}

/** What the console's `/config.json` holds on AWS (console/src/config.ts, mode `oidc`). */
export interface ConsoleConfig {
  readonly mode: 'oidc';
  readonly apiUrl: string;
  readonly issuer: string;
  readonly clientId: string;
  readonly scope: string;
}

export const CONSOLE_SCOPE = 'openid profile email';

/** Served in place of the console when the app is synthesized without bundling (local mode, tests): never deployed. */
const PLACEHOLDER_PAGE = '<!doctype html><title>Stack Jobs</title><p>Synthesized without bundling: the console is built by cdk deploy.</p>';

/** Vite's content-hashed output: a changed file is a new name, so it may be cached for good. */
const HASHED_ASSETS = 'assets/*';

export class WebConsole extends Construct {
  public readonly bucket: s3.Bucket;
  public readonly distribution: cloudfront.Distribution;
  public readonly responseHeadersPolicy: cloudfront.ResponseHeadersPolicy;
  /** `https://<distribution domain>`: the console's URL and origin (CORS, redirect URLs). */
  public readonly url: string;
  /** The content of `/config.json`. */
  public readonly config: ConsoleConfig;

  constructor(scope: Construct, id: string, props: WebConsoleProps) {
    super(scope, id);
    const retain = props.retainData ?? true;
    const issuerOrigin = new URL(props.issuer).origin;
    const authOrigins = props.authOrigins ?? [];
    if (/^https:\/\/cognito-idp\./.test(issuerOrigin) && authOrigins.length === 0)
      Annotations.of(this).addWarningV2(
        'stackjobs:consoleAuthOrigins',
        "The issuer is a Cognito user pool, whose token endpoint is on the pool's domain: set stackjobs:consoleAuthOrigins to https://<domain>.auth.<region>.amazoncognito.com (or your custom domain), or the console's sign-in cannot fetch its tokens (docs/deploy.md, Web console).",
      );

    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: props.logsBucket,
      serverAccessLogsPrefix: 'console/',
      removalPolicy: retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      autoDeleteObjects: false,
    });

    this.responseHeadersPolicy = new cloudfront.ResponseHeadersPolicy(this, 'SecurityHeaders', {
      comment: 'Stack Jobs console: HSTS, nosniff, no framing, no referrer, strict CSP',
      securityHeadersBehavior: {
        contentSecurityPolicy: {
          contentSecurityPolicy: consoleContentSecurityPolicy([...new Set([props.apiEndpoint, issuerOrigin, ...authOrigins])]),
          override: true,
        },
        strictTransportSecurity: { accessControlMaxAge: Duration.days(730), includeSubdomains: true, override: true },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER, override: true },
      },
    });

    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: 'Stack Jobs web console',
      defaultRootObject: 'index.html',
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: this.responseHeadersPolicy,
        compress: true,
      },
      // Browser-history routes (/jobs/sj_…) are no object: S3 answers 403 (the distribution may not list the bucket)
      // or 404, and the app's entry page answers instead, for the app's router to show the route.
      errorResponses: [403, 404].map((httpStatus) => ({ httpStatus, responseHttpStatus: 200, responsePagePath: '/index.html' })),
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      enableLogging: true,
      logBucket: props.logsBucket,
      logFilePrefix: 'console-cdn/',
    });
    this.url = `https://${this.distribution.distributionDomainName}`;
    acknowledgeDistributionFindings(this.distribution);

    this.config = {
      mode: 'oidc',
      apiUrl: props.apiEndpoint,
      issuer: props.issuer,
      clientId: props.clientId,
      scope: CONSOLE_SCOPE,
    };
    this.upload(props);
  }

  /**
   * Two uploads of the same build: the content-hashed assets first, cached for a year, then the rest (index.html,
   * config.json) revalidated on every load, so a page never names an asset that is not there yet. Neither deletes
   * what it no longer ships: a tab opened before a deploy still finds the assets its index.html named.
   */
  private upload(props: WebConsoleProps): void {
    const content = this.content(props.assetDir);
    const logGroup = new logs.LogGroup(this, 'UploadLogs', { retention: props.logRetention, removalPolicy: RemovalPolicy.DESTROY });
    // outputObjectKeys off: CloudFormation caps a custom resource's response at 4 KB, which a list of every file outgrows.
    const common = { destinationBucket: this.bucket, prune: false, retainOnDelete: true, outputObjectKeys: false, logGroup };
    const assets = new s3deploy.BucketDeployment(this, 'UploadAssets', {
      ...common,
      sources: [content],
      exclude: ['*'],
      include: [HASHED_ASSETS],
      cacheControl: [s3deploy.CacheControl.setPublic(), s3deploy.CacheControl.maxAge(Duration.days(365)), s3deploy.CacheControl.immutable()],
    });
    const entry = new s3deploy.BucketDeployment(this, 'UploadEntry', {
      ...common,
      sources: [content, s3deploy.Source.jsonData('config.json', this.config)],
      exclude: [HASHED_ASSETS],
      cacheControl: [s3deploy.CacheControl.noCache()],
    });
    entry.node.addDependency(assets);
    // Each BucketDeployment makes an AWS CLI layer, but the uploads share one function, which takes the first's.
    entry.node.tryRemoveChild('AwsCliLayer');
    acknowledgeUploadFindings(assets, this.bucket);
  }

  /** The built console: ensureConsoleBuilt() when the stack is bundled (cdk synth, deploy), else a placeholder. */
  private content(assetDir: string | undefined): s3deploy.ISource {
    if (assetDir) return s3deploy.Source.asset(assetDir);
    // Like the Lambdas' bundling, skipped in an offline synth (aws:cdk:bundling-stacks = [], infra/asl.ts): local mode
    // builds and serves the console itself, and no test waits for Vite.
    if (!Stack.of(this).bundlingRequired) return s3deploy.Source.data('index.html', PLACEHOLDER_PAGE);
    return s3deploy.Source.asset(ensureConsoleBuilt((line) => process.stderr.write(`${line}\n`)).dir);
  }
}

/** The findings a console on CloudFront's default domain cannot fix, each with why. */
function acknowledgeDistributionFindings(distribution: cloudfront.Distribution): void {
  const v = Validations.of(distribution);
  v.acknowledge({
    id: 'AwsSolutions-CFR1',
    reason: 'No geo restriction: the console is for the deploying organization, wherever its people are; sign-in and the API decide access.',
  });
  v.acknowledge({
    id: 'AwsSolutions-CFR2',
    reason:
      'No WAF web ACL (from $5/month plus rules): the distribution serves static files only, read-only (GET/HEAD); every data request goes to the API, which has its own throttling and JWT authorizer.',
  });
  v.acknowledge({
    id: 'AwsSolutions-CFR4',
    reason:
      "The console is served on the distribution's *.cloudfront.net name with CloudFront's default certificate, whose TLS policy CloudFront fixes; a minimum of TLS 1.2 needs a custom domain and ACM certificate, which this stack does not take.",
  });
}

/**
 * The upload function: CDK's BucketDeployment handler (one per stack, shared by both uploads), which copies the build
 * from the CDK assets bucket into the console bucket with the AWS CLI.
 */
function acknowledgeUploadFindings(deployment: s3deploy.BucketDeployment, bucket: s3.IBucket): void {
  const handler = deployment.handlerRole.node.scope!;
  const stack = Stack.of(deployment);
  const assets = `arn:<AWS::Partition>:s3:::cdk-${stack.synthesizer.bootstrapQualifier ?? DefaultStackSynthesizer.DEFAULT_QUALIFIER}-assets-<AWS::AccountId>-<AWS::Region>/*`;
  const v = Validations.of(handler);
  acknowledgeCdkHandlerLogs(handler);
  v.acknowledge({
    id: 'AwsSolutions-L1',
    reason: "CDK's BucketDeployment handler is Python on the runtime CDK ships it for; its code is CDK's, tested by CDK on that runtime.",
  });
  for (const [action, reason] of [
    ['s3:GetObject*', 'Reads the uploaded build (GetObject, GetObjectVersion…) from the CDK assets bucket.'],
    ['s3:GetBucket*', 'The AWS CLI sync reads the buckets it copies between (location, versioning).'],
    ['s3:List*', 'The AWS CLI sync lists source and destination to compare them.'],
    ['s3:DeleteObject*', "CDK's grant for the upload's own cleanup; prune is off, so nothing is deleted by a deploy."],
    ['s3:Abort*', 'Aborts its own failed multipart uploads to the console bucket.'],
  ])
    v.acknowledge({ id: `AwsSolutions-IAM5[Action::${action}]`, reason });
  acknowledgeWildcardResources(handler, [
    [assets, "CDK's assets bucket holds each upload under a content hash known only at deploy; the grant is read-only."],
    [`${bucket.bucketArn}/*`, 'The console bucket holds nothing but the console; every object in it is the upload’s to write.'],
  ]);
}
