/**
 * The real `terraform` on the PATH, for the suites that use it as the oracle. Without one a suite says so in one loud
 * line and does not run; in CI, where the machine image has Terraform, it fails instead: the oracle must run there.
 */
import { execFileSync } from 'node:child_process';

export interface Terraform {
  bin: string;
  version: string;
}

function findTerraform(): Terraform | undefined {
  try {
    const bin = execFileSync('sh', ['-c', 'command -v terraform'], { encoding: 'utf8' }).trim();
    const out = JSON.parse(execFileSync(bin, ['version', '-json'], { encoding: 'utf8', env: { ...process.env, TF_CLI_CONFIG_FILE: '/dev/null' } })) as {
      terraform_version: string;
    };
    return { bin, version: out.terraform_version };
  } catch {
    return undefined;
  }
}

/** The binary, or undefined after the loud line (a throw in CI). `suite` is the test file, named in the line. */
export function requireTerraform(suite: string): Terraform | undefined {
  const found = findTerraform();
  if (!found) {
    const line = `!!! NO terraform ON THE PATH: the real-Terraform suite (${suite}) did not run; only the stand-in suites ran !!!`;
    process.stderr.write(`\n${line}\n\n`);
    if (process.env.CI === 'true') throw new Error(`${line} (CI requires it: the machine image ships Terraform)`);
  }
  return found;
}
