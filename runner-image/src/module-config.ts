/**
 * The configuration the module receives: `metadata` and `spec` (README "Writing modules"). Terraform/OpenTofu get
 * it as a var file in the workspace's config/ directory; Pulumi as structured stack config. No credentials here.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { StackJob } from '../../lambdas/domain/schemas';

/**
 * The resource's inputs, identical on every job of the resource except `version`: a module may name and tag
 * things from `metadata.id` and `metadata.name` without replacing them on every job. The job id is deliberately
 * absent (it is in the logs).
 */
export function moduleInputs(job: StackJob): { metadata: ModuleMetadata; spec: Record<string, unknown> } {
  const { org, env, version } = job.metadata;
  const resource = job.spec.apiResourceInfo;
  return {
    metadata: { id: resource.id, name: resource.name, org, env, kind: resource.kind, version },
    spec: resource.spec,
  };
}

/** `var.metadata` (Terraform/OpenTofu) and `<project>:metadata` (Pulumi). */
export interface ModuleMetadata {
  id: string;
  name: string;
  org: string;
  env: string;
  kind: string;
  version: { id: string; message: string };
}

/** Writes `<configDir>/terraform.tfvars.json` and returns its path (passed as -var-file). */
export async function writeTerraformVars(job: StackJob, configDir: string): Promise<string> {
  const file = join(configDir, 'terraform.tfvars.json');
  await writeFile(file, `${JSON.stringify(moduleInputs(job), null, 2)}\n`, { mode: 0o600 });
  return file;
}

/** Writes `Pulumi.<stack>.yaml` next to the project's Pulumi.yaml, namespaced by the project name. */
export async function writePulumiStackConfig(job: StackJob, moduleDir: string, stack: string): Promise<string> {
  const project = parse(await readFile(join(moduleDir, 'Pulumi.yaml'), 'utf8')) as { name?: unknown };
  if (typeof project?.name !== 'string') throw new Error('Pulumi.yaml has no project name');
  const { metadata, spec } = moduleInputs(job);
  const file = join(moduleDir, `Pulumi.${stack}.yaml`);
  await writeFile(file, stringify({ config: { [`${project.name}:metadata`]: metadata, [`${project.name}:spec`]: spec } }), { mode: 0o600 });
  return file;
}
