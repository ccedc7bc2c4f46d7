/** A ResourceChange as a person pastes it (YAML or JSON), read just far enough to know its org; the API validates the rest. */
import { parse } from 'yaml';
import type { Schemas } from '../../api/client';

export type ResourceChange = Schemas['ResourceChange'];

/** The shape of the API's ResourceChange example (lambdas/api/openapi-examples.ts), as YAML. */
export const EXAMPLE_CHANGE = `resource:
  id: eks_01jq5xe4z7farkgenqsh47c1h0
  name: prod-api-cluster
  org: acmecorp
  env: production
  version:
    id: ver-01jsrnmrwjn57drj0ekht8hb93
    message: Scale EKS node group from 3 to 5 nodes
kind: aws_eks_cluster
spec:
  nodeGroup:
    desiredSize: 5
triggerEvent: updated
createdBy: user@company.com
`;

export type ParsedChange = { change: ResourceChange; org?: string; error?: undefined } | { change?: undefined; org?: undefined; error: string };

/** YAML is a superset of JSON, so one parser reads either. */
export function parseChange(text: string): ParsedChange {
  if (!text.trim()) return { error: 'Paste or upload a change first.' };
  let value: unknown;
  try {
    value = parse(text);
  } catch (e) {
    return { error: `Not valid YAML or JSON: ${(e as Error).message}` };
  }
  if (!value || typeof value !== 'object' || Array.isArray(value))
    return { error: 'A change is a mapping (a JSON object or a YAML map), with resource, kind, triggerEvent and createdBy.' };
  const resource = (value as { resource?: { org?: unknown } }).resource;
  const org = resource && typeof resource === 'object' && typeof resource.org === 'string' && resource.org ? resource.org : undefined;
  return { change: value as ResourceChange, ...(org ? { org } : {}) };
}
