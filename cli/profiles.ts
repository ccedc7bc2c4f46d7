/**
 * Named profiles, so nobody pastes tokens into commands: `~/.config/stackjobs/config.yaml` (or `$STACKJOBS_CONFIG`)
 *
 *   current: local
 *   profiles:
 *     local: { endpoint: http://127.0.0.1:8787, token: local-operator-token }
 *     prod:  { endpoint: https://abc.execute-api.eu-west-1.amazonaws.com, tokenCommand: "my-sso print-token" }
 *
 * A flag wins over its environment variable, which wins over the profile (`--profile`, `$STACKJOBS_PROFILE`, then
 * `current`), which wins over the default.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import * as z from '../lambdas/shared/zod';

const profileSchema = z
  .object({
    endpoint: z.url().optional(),
    token: z.string().min(1).optional(),
    /** A command whose standard output is the token (for short-lived tokens from an SSO helper). */
    tokenCommand: z.string().min(1).optional(),
  })
  .strict();
export type Profile = z.infer<typeof profileSchema>;

const configSchema = z.object({ current: z.string().optional(), profiles: z.record(z.string(), profileSchema).default({}) }).strict();

export function configPath(env: NodeJS.ProcessEnv): string {
  return env.STACKJOBS_CONFIG ?? join(env.XDG_CONFIG_HOME ?? join(env.HOME ?? homedir(), '.config'), 'stackjobs', 'config.yaml');
}

export class ProfileError extends Error {}

/** The profile to use, or undefined when none is named and the file names no current one (or does not exist). */
export function loadProfile(env: NodeJS.ProcessEnv, named?: string): Profile | undefined {
  const path = configPath(env);
  const wanted = named ?? env.STACKJOBS_PROFILE;
  if (!existsSync(path)) {
    if (wanted)
      throw new ProfileError(
        `profile ${wanted} was asked for, but there is no config file at ${path} (set STACKJOBS_CONFIG, or create it: see stackjobs --help)`,
      );
    return undefined;
  }
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ProfileError(`cannot read ${path}: ${(e as Error).message}`);
  }
  const parsed = configSchema.safeParse(raw ?? {});
  if (!parsed.success)
    throw new ProfileError(`${path} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`).join('; ')}`);
  const name = wanted ?? parsed.data.current;
  if (!name) return undefined;
  const profile = parsed.data.profiles[name];
  if (!profile) throw new ProfileError(`no profile ${name} in ${path} (it has: ${Object.keys(parsed.data.profiles).join(', ') || 'none'})`);
  return profile;
}

/** The profile's token: given, or printed by its tokenCommand (run without a shell). */
export function tokenOf(profile: Profile | undefined): string | undefined {
  if (!profile) return undefined;
  if (profile.token) return profile.token;
  if (!profile.tokenCommand) return undefined;
  const [cmd, ...args] = profile.tokenCommand.split(/\s+/);
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 }).trim() || undefined;
  } catch (e) {
    // The command's output is not repeated: it could hold the token.
    throw new ProfileError(
      `the profile's tokenCommand (${cmd}) failed: ${(e as { status?: number }).status !== undefined ? `exit ${(e as { status?: number }).status}` : (e as Error).name}`,
    );
  }
}
