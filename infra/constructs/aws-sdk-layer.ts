/**
 * One Lambda layer per stack holding the lockfile's AWS SDK (infra/sdk-layer.ts), shared by every StackJobsFunction
 * when `stackjobs:awsSdk` is `layer` (the default). Built by copying from node_modules at synth time: no Docker, and
 * the asset hash follows the packages' versions, so an unchanged lockfile uploads nothing new.
 */
import { AssetHashType, DockerImage, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { layerHash, layerPackages, writeLayer } from '../sdk-layer';

const ID = 'AwsSdkLayer';

/** The stack's AWS SDK layer, created on first use. */
export function awsSdkLayer(scope: Construct, root: string, runtime: lambda.Runtime, architecture: lambda.Architecture): lambda.ILayerVersion {
  const stack = Stack.of(scope);
  const existing = stack.node.tryFindChild(ID) as lambda.LayerVersion | undefined;
  if (existing) return existing;
  const packages = layerPackages(root);
  return new lambda.LayerVersion(stack, ID, {
    description: `AWS SDK for JavaScript v3 from package-lock.json (${packages.find((p) => p.name === '@aws-sdk/client-dynamodb')?.version ?? '?'}) for the Stack Jobs functions`,
    compatibleRuntimes: [runtime],
    compatibleArchitectures: [architecture],
    code: lambda.Code.fromAsset(root, {
      assetHashType: AssetHashType.CUSTOM,
      assetHash: layerHash(packages),
      bundling: {
        // Never used: local bundling always succeeds (it only copies files).
        image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:22'),
        local: {
          tryBundle(outputDir: string) {
            writeLayer(root, outputDir, packages);
            return true;
          },
        },
      },
    }),
  });
}
