/** A job's outputs. The API masks sensitive values; here a sensitive entry never renders its value at all, masked or not. */
import type { Schemas } from '../api/client';
import { conditional, fetched, usePolled } from '../api/poll';
import { useSession } from '../auth/session';
import { ErrorNote, Loading } from './common';

type Outputs = Record<string, Schemas['OutputValue']>;

function shown(value: unknown, indent?: number): string {
  return typeof value === 'string' ? value : JSON.stringify(value, null, indent);
}

/** The outputs by name: type and value, a sensitive one's value never shown. */
export function OutputsTable({ outputs, caption }: { outputs: Outputs; caption: string }) {
  const entries = Object.entries(outputs).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return <p className="muted">The module has no outputs.</p>;
  return (
    <table>
      <caption className="visually-hidden">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Type</th>
          <th scope="col">Value</th>
        </tr>
      </thead>
      <tbody>
        {entries.map(([name, output]) => (
          <tr key={name}>
            <th scope="row">
              <code>{name}</code>
            </th>
            <td>{output.type === undefined ? <span className="muted">—</span> : <code>{shown(output.type)}</code>}</td>
            <td>{output.sensitive ? <span className="value-masked">(sensitive)</span> : <code className="value">{shown(output.value, 2)}</code>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The outputs job `jobId` wrote (read again when `outputsKey`, where the job keeps them, changes). */
export function JobOutputs({ jobId, outputsKey, caption }: { jobId: string; outputsKey?: string; caption: string }) {
  const { api } = useSession();
  const outputs = usePolled(
    `outputs:${jobId}:${outputsKey ?? ''}`,
    async (etag) => fetched(await api.GET('/v1/stack-jobs/{id}/outputs', { params: { path: { id: jobId } }, ...conditional(etag) })),
    { active: false },
  );
  if (outputs.error?.status === 404) return <p className="muted">Job {jobId} has no outputs.</p>;
  if (outputs.error) return <ErrorNote error={outputs.error} />;
  if (!outputs.data) return <Loading what="outputs" />;
  return <OutputsTable outputs={outputs.data.outputs} caption={caption} />;
}
