/**
 * Named profiles, so nobody pastes tokens into commands: `~/.config/stackjobs/config.yaml` (or `$STACKJOBS_PROFILES`)
 *
 *   current: local
 *   profiles:
 *     local: { endpoint: http://127.0.0.1:8787, token: local-operator-token }
 *     prod:  { endpoint: https://abc.execute-api.eu-west-1.amazonaws.com, tokenCommand: "my-sso print-token" }
 *
 * A flag wins over its environment variable, which wins over the profile (`--profile`, `$STACKJOBS_PROFILE`, then
 * `current`), which wins over the default.
 *
 * `$STACKJOBS_CONFIG` is local mode's config file (README, "Local mode"). The CLI once read it as its profiles file
 * too, so one shell could not hold both: a profiles file it names is still read (with a note to move to
 * STACKJOBS_PROFILES), and a local mode config it names is skipped with a note instead of failing every command.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import * as z from '../lambdas/shared/zod';
import { cliCommand } from './invocation';

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

/** The profiles file when no variable names one. */
export function defaultProfilesPath(env: NodeJS.ProcessEnv): string {
  return join(env.XDG_CONFIG_HOME ?? join(env.HOME ?? homedir(), '.config'), 'stackjobs', 'config.yaml');
}

export class ProfileError extends Error {}

function readYaml(path: string): unknown {
  try {
    return parse(readFileSync(path, 'utf8')) as unknown;
  } catch (e) {
    throw new ProfileError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

/** Local mode's config has these top-level keys (local/config.ts); a profiles file has none of them. */
const looksLikeLocalConfig = (doc: unknown) =>
  typeof doc === 'object' && doc !== null && !('profiles' in doc) && ['catalog', 'principals', 'secrets'].some((k) => k in doc);

/**
 * The profiles file and its parsed text (undefined when it does not exist): `$STACKJOBS_PROFILES`, else a profiles
 * file that `$STACKJOBS_CONFIG` names (the old variable), else the default. `note` hears why STACKJOBS_CONFIG was
 * skipped, or that it should be renamed.
 */
function profilesFile(env: NodeJS.ProcessEnv, note: (line: string) => void): { path: string; doc?: unknown } {
  const read = (path: string) => ({ path, ...(existsSync(path) ? { doc: readYaml(path) ?? {} } : {}) });
  if (env.STACKJOBS_PROFILES) return read(env.STACKJOBS_PROFILES);
  const fallback = defaultProfilesPath(env);
  const legacy = env.STACKJOBS_CONFIG;
  if (legacy && existsSync(legacy)) {
    const doc = readYaml(legacy) ?? {};
    if (looksLikeLocalConfig(doc)) {
      note(`ignoring STACKJOBS_CONFIG (${legacy}): it is a local mode config, not CLI profiles; profiles come from STACKJOBS_PROFILES or ${fallback}`);
      return read(fallback);
    }
    note(`reading profiles from STACKJOBS_CONFIG (${legacy}); local mode reads that variable as its config, so set STACKJOBS_PROFILES instead`);
    return { path: legacy, doc };
  }
  return read(fallback);
}

/** The profile to use, or undefined when none is named and the file names no current one (or does not exist). */
export function loadProfile(env: NodeJS.ProcessEnv, named?: string, note: (line: string) => void = () => undefined): Profile | undefined {
  const { path, doc } = profilesFile(env, note);
  const wanted = named ?? env.STACKJOBS_PROFILE;
  if (doc === undefined) {
    if (wanted)
      throw new ProfileError(
        `profile ${wanted} was asked for, but there is no profiles file at ${path} (set STACKJOBS_PROFILES, or create it: see ${cliCommand(env)} --help)`,
      );
    return undefined;
  }
  const parsed = configSchema.safeParse(doc);
  if (!parsed.success)
    throw new ProfileError(`${path} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`).join('; ')}`);
  const name = wanted ?? parsed.data.current;
  if (!name) return undefined;
  const profile = parsed.data.profiles[name];
  if (!profile) throw new ProfileError(`no profile ${name} in ${path} (it has: ${Object.keys(parsed.data.profiles).join(', ') || 'none'})`);
  return profile;
}

/**
 * Why a tokenCommand gave no token, in words: execFileSync reports a missing program as status null (its error code
 * ENOENT) and a killed one as status null with a signal, so "exit null" said nothing of either.
 */
function whyCommandFailed(e: { status?: number | null; signal?: NodeJS.Signals | null; code?: string; name?: string }): string {
  if (e.code === 'ENOENT') return 'was not found (ENOENT: no such program on the PATH, or no such file)';
  if (e.code === 'EACCES') return 'could not be run (EACCES: not executable)';
  if (e.code === 'ETIMEDOUT') return `did not finish within 30s (killed with ${e.signal ?? 'SIGTERM'})`;
  if (e.signal) return `was killed by ${e.signal}`;
  if (typeof e.status === 'number') return `failed: exit ${e.status}`;
  return `failed: ${e.code ?? e.name ?? 'unknown error'}`;
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
    throw new ProfileError(`the profile's tokenCommand (${cmd}) ${whyCommandFailed(e as Parameters<typeof whyCommandFailed>[0])}`);
  }
}
