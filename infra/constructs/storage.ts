/**
 * Storage: the jobs and catalog tables (built from the one shared table definition) and the artifacts bucket
 * (logs, plans, outputs per job) with its access-log bucket.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Validations } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { CATALOG_TABLE, JOBS_TABLE, type TableDefinition } from '../../lambdas/adapters/dynamodb/table-definitions';

/** The object tag the runner sets on artifacts so lifecycle rules can expire logs and plans separately. */
export { ARTIFACT_TAG } from '../../lambdas/adapters/s3/artifact-keys';
import { ARTIFACT_TAG } from '../../lambdas/adapters/s3/artifact-keys';

/** The jobs table's index names, for grants that name each index instead of `index/*`. */
export const JOBS_INDEX_NAMES: readonly string[] = JOBS_TABLE.indexes.map((i) => i.indexName);

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
}

const attr = (a: { name: string; type: 'S' | 'N' }): dynamodb.Attribute => ({
  name: a.name,
  type: a.type === 'S' ? dynamodb.AttributeType.STRING : dynamodb.AttributeType.NUMBER,
});

/** A DynamoDB table exactly as table-definitions.ts describes it (local mode creates the same one). */
function tableFrom(scope: Construct, id: string, def: TableDefinition, retain: boolean): dynamodb.TableV2 {
  return new dynamodb.TableV2(scope, id, {
    partitionKey: attr(def.partitionKey),
    sortKey: attr(def.sortKey),
    globalSecondaryIndexes: def.indexes.map((i) => ({ indexName: i.indexName, partitionKey: attr(i.partitionKey), sortKey: attr(i.sortKey) })),
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

  constructor(scope: Construct, id: string, props: StorageProps = {}) {
    super(scope, id);
    const retain = props.retainData ?? true;
    const removalPolicy = retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    this.jobsTable = tableFrom(this, 'JobsTable', JOBS_TABLE, retain);
    this.catalogTable = tableFrom(this, 'CatalogTable', CATALOG_TABLE, retain);

    this.artifactsKey = new kms.Key(this, 'ArtifactsKey', {
      enableKeyRotation: true,
      description: 'Stack Jobs artifacts (logs, plans, outputs)',
      removalPolicy,
    });
    const accessLogs = new s3.Bucket(this, 'AccessLogsBucket', {
      // Server access logging can only deliver to SSE-S3 buckets.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(365) }],
      removalPolicy,
      autoDeleteObjects: false,
    });
    Validations.of(accessLogs).acknowledge({ id: 'AwsSolutions-S1', reason: 'This is the access-log bucket itself; logging it to itself would loop.' });

    this.artifactsBucket = new s3.Bucket(this, 'ArtifactsBucket', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.artifactsKey,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      serverAccessLogsBucket: accessLogs,
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
