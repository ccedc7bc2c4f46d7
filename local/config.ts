/**
 * The local-mode configuration file (STACKJOBS_CONFIG, YAML): the catalog to load, the secrets standing in for
 * Secrets Manager, the principals the local API accepts as bearer tokens, and Slack settings.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { PLATFORM_OWNER } from '../lambdas/domain/ports';
import { catalogKinds, catalogSchemas, principalSchema, type CatalogKind } from '../lambdas/domain/schemas';

export const localConfigSchema = z
  .object({
    catalog: z.partialRecord(z.enum(catalogKinds as [CatalogKind, ...CatalogKind[]]), z.array(z.unknown())).default({}),
    secrets: z.record(z.string(), z.string()).default({}),
    principals: z.array(principalSchema.extend({ token: z.string().min(8) })).default([]),
    /**
     * `botToken` and `apiUrl`: what posts to Slack; `teamId`: the workspace whose clicks count; `users`: Slack user id -> principal subject, linked at start as a
     * platform admin would link them (local mode's stand-in for PUT /v1/platform/slack-links/...).
     */
    slack: z
      .object({
        signingSecret: z.string().optional(),
        /** The bot token (`xoxb-…`): approval messages and drift notices are posted with it. Unset: nothing is posted. */
        botToken: z.string().optional(),
        /** Where the Slack Web API is (a stand-in for tests); unset: https://slack.com/api/. */
        apiUrl: z.url().optional(),
        teamId: z.string().optional(),
        users: z.record(z.string(), z.string()).default({}),
      })
      .strict()
      .default({ users: {} }),
    /**
     * The access key ids local mode's STS knows (the stand-in for IAM users). Unset: every key pair found in `secrets`.
     */
    sts: z
      .object({ accessKeyIds: z.array(z.string().min(1)) })
      .strict()
      .optional(),
  })
  .strict();
export type LocalConfig = z.infer<typeof localConfigSchema>;

export interface CatalogEntry {
  kind: CatalogKind;
  owner: string;
  id: string;
  entity: unknown;
}

/** Validates every catalog entry with the API's own schemas and works out who owns it. */
export function catalogEntries(config: LocalConfig): CatalogEntry[] {
  const entries: CatalogEntry[] = [];
  for (const kind of catalogKinds) {
    for (const [i, raw] of (config.catalog[kind] ?? []).entries()) {
      const parsed = catalogSchemas[kind].safeParse(raw);
      if (!parsed.success) throw new Error(`catalog.${kind}[${i}]: ${parsed.error.issues.map((e) => `${e.path.join('.')}: ${e.message}`).join('; ')}`);
      const e = parsed.data as Record<string, unknown> & { selector?: { level: string; org?: string } };
      const platform = e.scope === 'platform' || e.selector?.level === 'platform';
      const owner = platform ? PLATFORM_OWNER : String(e.org ?? e.selector?.org);
      entries.push({ kind, owner, id: String(kind === 'org-settings' ? e.org : e.id), entity: parsed.data });
    }
  }
  return entries;
}

export function loadLocalConfig(path: string): LocalConfig {
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read STACKJOBS_CONFIG ${path}: ${(e as Error).message}`);
  }
  const parsed = localConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new Error(`invalid STACKJOBS_CONFIG ${path}: ${parsed.error.issues.map((e) => `${e.path.join('.')}: ${e.message}`).join('; ')}`);
  return parsed.data;
}
