/** stackjobs:runnerTools and stackjobs:terraformProviderMirror reach the runner image's build as its Dockerfile's arguments. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { OFFLINE_CONTEXT } from '../../infra/asl';
import { buildStackJobsApp } from '../../infra/build';

/** The build arguments of the stack's one Docker image asset, as the cloud assembly hands them to `docker build`. */
function imageBuildArgs(context: Record<string, unknown>): Record<string, string> | undefined {
  const app = new App({ context: { ...OFFLINE_CONTEXT, ...context } });
  buildStackJobsApp(app, { nag: false });
  const dir = app.synth().directory;
  const images = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.assets.json'))
    .flatMap((f) =>
      Object.values(
        (
          JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as {
            dockerImages?: Record<string, { source: { dockerBuildArgs?: Record<string, string>; dockerFile?: string } }>;
          }
        ).dockerImages ?? {},
      ),
    );
  expect(images.map((i) => i.source.dockerFile)).toEqual(['runner-image/Dockerfile']);
  return images[0].source.dockerBuildArgs;
}

describe('the runner image build', () => {
  it('carries every tool and no mirror by default (no build arguments)', () => {
    expect(imageBuildArgs({}) ?? {}).toEqual({});
  });

  it('builds a Terraform/OpenTofu image with a provider mirror when asked', () => {
    expect(
      imageBuildArgs({ 'stackjobs:runnerTools': 'terraform,tofu', 'stackjobs:terraformProviderMirror': 'hashicorp/aws=5.80.0,hashicorp/random=3.6.3' }),
    ).toEqual({
      RUNNER_TOOLS: 'terraform tofu',
      TERRAFORM_PROVIDER_MIRROR: 'hashicorp/aws=5.80.0 hashicorp/random=3.6.3',
    });
  });

  it('refuses an unknown tool, a malformed provider, and either with a prebuilt image, naming the key', () => {
    const synth = (context: Record<string, unknown>) => () => buildStackJobsApp(new App({ context: { ...OFFLINE_CONTEXT, ...context } }), { nag: false });
    expect(synth({ 'stackjobs:runnerTools': 'terraform,ansible' })).toThrow(
      /stackjobs:runnerTools must list some of terraform, tofu, pulumi; unknown: ansible/,
    );
    expect(synth({ 'stackjobs:terraformProviderMirror': 'aws=5.0.0' })).toThrow(
      /stackjobs:terraformProviderMirror entries must be <namespace>\/<type>=<version>: aws=5.0.0/,
    );
    expect(synth({ 'stackjobs:runnerTools': 'terraform', 'stackjobs:runnerImage': 'public.ecr.aws/acme/runner:1' })).toThrow(
      /stackjobs:runnerImage is a prebuilt image/,
    );
  });
});
