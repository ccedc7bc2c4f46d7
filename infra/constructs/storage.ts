/**
 * Storage: the jobs and catalog tables (built from the one shared table definition) and the artifacts bucket
 * (logs, plans, outputs per job) with the access-log bucket it shares with the web console's bucket and distribution.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Validations } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import {
  CATALOG_TABLE,
  JOBS_TABLE,
  LEGACY_JOBS_INDEXES,
  readableIndexNames,
  type IndexDefinition,
  type TableDefinition,
} from '../../lambdas/adapters/dynamodb/table-definitions';

/** The object tag the runner sets on artifacts so lifecycle rules can expire logs and plans separately. */
export { ARTIFACT_TAG } from '../../lambdas/adapters/s3/artifact-keys';
import { ARTIFACT_TAG } from '../../lambdas/adapters/s3/artifact-keys';

/**
 * The jobs table's index names, for grants that name each index instead of `index/*`: each index and the legacy one it
 * replaces, which answers its queries while an upgrade has not made it yet (see JOBS_INDEX_UPGRADE_STEPS).
 */
export const JOBS_INDEX_NAMES: readonly string[] = JOBS_TABLE.indexes.flatMap((i) => readableIndexNames(i.indexName));

/**
 * The jobs table's indexes at each step of the upgrade from the indexes of earlier versions (LEGACY_JOBS_INDEXES, which
 * copy every attribute) to this version's (which copy keys only). DynamoDB changes one index per table update, and
 * CloudFormation fails a stack update that adds or removes more than one ("Cannot perform more than one GSI creation
 * or deletion in a single update"), so a deployed table gets there in six deploys, each adding or removing one index:
 * steps 1 to 3 add this version's indexes next to the legacy ones, steps 4 and 5 remove two legacy ones, and the
 * deploy without a step removes the last. No query ever lacks an index: until its own index is there and filled, a
 * query reads the legacy one (job-repository.ts). A new table is created with this version's indexes at once.
 */
export const JOBS_INDEX_UPGRADE_STEPS = 5;
export function jobsIndexesAt(step: number | undefined): IndexDefinition[] {
  if (step === undefined) return JOBS_TABLE.indexes;
  if (!Number.isInteger(step) || step < 1 || step > JOBS_INDEX_UPGRADE_STEPS)
    throw new Error(`the jobs index upgrade step must be 1 to ${JOBS_INDEX_UPGRADE_STEPS}, or none once the upgrade is done (got ${step})`);
  const legacy = JOBS_TABLE.indexes.map((i) => LEGACY_JOBS_INDEXES[i.indexName]);
  const added = JOBS_TABLE.indexes.slice(0, Math.min(step, legacy.length));
  const kept = legacy.slice(Math.max(0, step - legacy.length));
  return [...added, ...kept];
}

export interface StorageProps {
  /**
   * Keep data when the stack is deleted: deletion protection on the tables, RETAIN on tables, key and buckets.
   * @default true
   */
  readonly retainData?: boolean;
  /**
   * Days to keep job logs in the artifacts bucket.
   * @default 365
   */
  readonly logExpirationDays?: number;
  /**
   * Days to keep plans (binary plan, JSON, summary) in the artifacts bucket; outputs are kept.
   * @default 180
   */
  readonly planExpirationDays?: number;
  /**
   * Upgrading a deployed jobs table from the indexes of earlier versions: deploy with each step in turn, 1 to
   * JOBS_INDEX_UPGRADE_STEPS, then without it (README, Deploy). A new deployment never sets it.
   * @default none: this version's indexes only
   */
  readonly jobsIndexUpgradeStep?: number;
}

const attr = (a: { name: string; type: 'S' | 'N' }): dynamodb.Attribute => ({
  name: a.name,
  type: a.type === 'S' ? dynamodb.AttributeType.STRING : dynamodb.AttributeType.NUMBER,
});

const PROJECTION_TYPES = { KEYS_ONLY: dynamodb.ProjectionType.KEYS_ONLY, INCLUDE: dynamodb.ProjectionType.INCLUDE, ALL: dynamodb.ProjectionType.ALL };

/** A DynamoDB table exactly as table-definitions.ts describes it (local mode creates the same one). */
function tableFrom(scope: Construct, id: string, def: TableDefinition, retain: boolean): dynamodb.TableV2 {
  return new dynamodb.TableV2(scope, id, {
    partitionKey: attr(def.partitionKey),
    sortKey: attr(def.sortKey),
    globalSecondaryIndexes: def.indexes.map((i) => ({
      indexName: i.indexName,
      partitionKey: attr(i.partitionKey),
      sortKey: attr(i.sortKey),
      projectionType: PROJECTION_TYPES[i.projection.type],
      ...(i.projection.type === 'INCLUDE' ? { nonKeyAttributes: [...i.projection.nonKeyAttributes] } : {}),
    })),
    timeToLiveAttribute: def.timeToLiveAttribute,
    billing: dynamodb.Billing.onDemand(),
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    deletionProtection: retain,
    removalPolicy: retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    encryption: dynamodb.TableEncryptionV2.awsManagedKey(),
  });
}

export class Storage extends Construct {
  public readonly jobsTable: dynamodb.TableV2;
  public readonly catalogTable: dynamodb.TableV2;
  /** Per job: `jobs/<jobId>/logs/`, `jobs/<jobId>/plan/`, `jobs/<jobId>/outputs.json`. */
  public readonly artifactsBucket: s3.Bucket;
  public readonly artifactsKey: kms.Key;
  /**
   * SSE-S3, ACLs enabled (CloudFront standard logs are delivered by ACL): S3 server access logs under `artifacts/` and
   * `console/`, the console distribution's logs under `console-cdn/`; kept 365 days.
   */
  public readonly accessLogsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: StorageProps = {}) {
    super(scope, id);
    const retain = props.retainData ?? true;
    const removalPolicy = retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    this.jobsTable = tableFrom(this, 'JobsTable', { ...JOBS_TABLE, indexes: jobsIndexesAt(props.jobsIndexUpgradeStep) }, retain);
    this.catalogTable = tableFrom(this, 'CatalogTable', CATALOG_TABLE, retain);

    this.artifactsKey = new kms.Key(this, 'ArtifactsKey', {
      enableKeyRotation: true,
      description: 'Stack Jobs artifacts (logs, plans, outputs)',
      removalPolicy,
    });
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogsBucket', {
      // Server access logging can only deliver to SSE-S3 buckets.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(365) }],
      removalPolicy,
      autoDeleteObjects: false,
    });
    Validations.of(this.accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the access-log bucket itself; logging it to itself would loop.',
    });

    this.artifactsBucket = new s3.Bucket(this, 'ArtifactsBucket', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.artifactsKey,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'artifacts/',
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // Keys are jobs/<jobId>/{logs,plan}/..., so a prefix cannot tell logs from plans: the runner tags each object
      // with ARTIFACT_TAG (log | plan | outputs) and the expiry rules filter on it. Outputs are kept.
      lifecycleRules: [
        {
          id: 'tidy-versions-and-uploads',
          prefix: 'jobs/',
          noncurrentVersionExpiration: Duration.days(30),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
        { id: 'expire-logs', prefix: 'jobs/', tagFilters: { [ARTIFACT_TAG]: 'log' }, expiration: Duration.days(props.logExpirationDays ?? 365) },
        { id: 'expire-plans', prefix: 'jobs/', tagFilters: { [ARTIFACT_TAG]: 'plan' }, expiration: Duration.days(props.planExpirationDays ?? 180) },
      ],
      removalPolicy,
    });
  }
}
