/**
 * One Lambda layer per stack holding the lockfile's AWS SDK (infra/sdk-layer.ts), shared by every StackJobsFunction
 * when `stackjobs:awsSdk` is `layer` (the default). Built by copying from node_modules at every synth (about 0.1 s, no
 * Docker) and hashed from that output, so the same packages give the same asset and any change of content a new one.
 */
import { AssetHashType, DockerImage, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { layerPackages, writeLayer } from '../sdk-layer';

export class AwsSdkLayer extends lambda.LayerVersion {
  /** The stack's layer, created on first use; every function must share its runtime and architecture. */
  static of(scope: Construct, root: string, runtime: lambda.Runtime, architecture: lambda.Architecture): AwsSdkLayer {
    const stack = Stack.of(scope);
    const existing = stack.node.tryFindChild('AwsSdkLayer');
    if (!existing) return new AwsSdkLayer(stack, 'AwsSdkLayer', root, runtime, architecture);
    if (!(existing instanceof AwsSdkLayer) || existing.target !== `${runtime.name}/${architecture.name}`) {
      throw new Error(`the stack's AWS SDK layer is not for ${runtime.name}/${architecture.name}`);
    }
    return existing;
  }

  private readonly target: string;

  private constructor(scope: Construct, id: string, root: string, runtime: lambda.Runtime, architecture: lambda.Architecture) {
    const packages = layerPackages(root);
    super(scope, id, {
      description: `AWS SDK for JavaScript v3 from package-lock.json (${packages.find((p) => p.name === '@aws-sdk/client-dynamodb')?.version ?? '?'}) for the Stack Jobs functions`,
      compatibleRuntimes: [runtime],
      compatibleArchitectures: [architecture],
      code: lambda.Code.fromAsset(root, {
        assetHashType: AssetHashType.OUTPUT,
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
    this.target = `${runtime.name}/${architecture.name}`;
  }
}
