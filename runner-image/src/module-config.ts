/**
 * The configuration the module receives: `metadata` and `spec` (design.md section 1). Terraform/OpenTofu get
 * it as a var file in the workspace's config/ directory; Pulumi as structured stack config. No credentials here.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { StackJob } from '../../lambdas/domain/schemas';

export function moduleInputs(job: StackJob): { metadata: Record<string, unknown>; spec: Record<string, unknown> } {
  const { id, name, org, env, version } = job.metadata;
  return {
    metadata: { id, name, org, env, version },
    spec: job.spec.apiResourceInfo.spec,
  };
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
