/** Where a job's artifacts live in the artifacts bucket (docs/architecture.md, Constructs: storage.ts): one prefix per job. */

export type RunnerPhase = 'preview' | 'update';

/** Phases and operations in execution order: log listings are sorted by this, not alphabetically. */
export const PHASE_ORDER: readonly string[] = ['preview', 'update'];
export const OPERATION_ORDER: readonly string[] = ['init', 'refresh', 'plan', 'apply', 'destroy'];

/** Sequence numbers are zero-padded so chunk keys also sort lexicographically within one operation. */
const SEQ_DIGITS = 8;

export const artifactKeys = {
  jobPrefix: (jobId: string) => `jobs/${jobId}/`,
  logPrefix: (jobId: string) => `jobs/${jobId}/logs/`,
  logChunk: (jobId: string, phase: string, operation: string, seq: number) =>
    `jobs/${jobId}/logs/${phase}/${operation}/${String(seq).padStart(SEQ_DIGITS, '0')}.log`,
  planPrefix: (jobId: string) => `jobs/${jobId}/plan/`,
  /** The tool's binary plan file: what apply consumes, and what the digest is computed over. */
  planBinary: (jobId: string) => `jobs/${jobId}/plan/plan.bin`,
  planJson: (jobId: string) => `jobs/${jobId}/plan/plan.json`,
  planSummary: (jobId: string) => `jobs/${jobId}/plan/summary.json`,
  planDigest: (jobId: string) => `jobs/${jobId}/plan/plan.sha256`,
  /** The refresh's masked `show -json` (Terraform, OpenTofu): each drifted resource's attributes before and after. */
  refreshJson: (jobId: string) => `jobs/${jobId}/plan/refresh.json`,
  /** The preview's workspace (module, .terraform/, lock file) as a gzipped tar: a plan artifact, expired with the plan. */
  savedWorkspace: (jobId: string) => `jobs/${jobId}/plan/workspace.tar.gz`,
  outputs: (jobId: string) => `jobs/${jobId}/outputs.json`,
};

/** Parses a log chunk key back into its parts; undefined for anything else under the prefix. */
export function parseLogChunkKey(key: string): { phase: string; operation: string; seq: number } | undefined {
  const m = /^jobs\/[^/]+\/logs\/([^/]+)\/([^/]+)\/(\d+)\.log$/.exec(key);
  return m ? { phase: m[1], operation: m[2], seq: Number(m[3]) } : undefined;
}

const rank = (order: readonly string[], v: string) => {
  const i = order.indexOf(v);
  return i < 0 ? order.length : i;
};

/** Orders log chunk keys as they were produced: phase, then operation, then sequence. */
export function compareLogKeys(a: string, b: string): number {
  const pa = parseLogChunkKey(a);
  const pb = parseLogChunkKey(b);
  if (!pa || !pb) return a < b ? -1 : a > b ? 1 : 0;
  return (
    rank(PHASE_ORDER, pa.phase) - rank(PHASE_ORDER, pb.phase) ||
    rank(OPERATION_ORDER, pa.operation) - rank(OPERATION_ORDER, pb.operation) ||
    (pa.operation < pb.operation ? -1 : pa.operation > pb.operation ? 1 : 0) ||
    pa.seq - pb.seq
  );
}

/** The object tag the bucket's lifecycle rules expire by: keys cannot tell logs from plans by prefix alone. */
export const ARTIFACT_TAG = 'stackjobs:artifact';

/** Which lifecycle class an artifact key belongs to. */
export function artifactClassOf(key: string): 'log' | 'plan' | 'outputs' | undefined {
  if (/^jobs\/[^/]+\/logs\//.test(key)) return 'log';
  if (/^jobs\/[^/]+\/plan\//.test(key)) return 'plan';
  if (/^jobs\/[^/]+\/outputs\.json$/.test(key)) return 'outputs';
  return undefined;
}
