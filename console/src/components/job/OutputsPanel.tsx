/** The job's outputs. The API masks sensitive values; here a sensitive entry never renders its value at all, masked or not. */
import type { Schemas, StackJob } from '../../api/client';
import { conditional, fetched, usePolled } from '../../api/poll';
import { useSession } from '../../auth/session';
import { ErrorNote, Loading } from '../common';
import './job.css';

function shown(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function OutputsPanel({ job }: { job: StackJob }) {
  return (
    <section className="panel" aria-labelledby="outputs-title">
      <h2 id="outputs-title">Outputs</h2>
      {/* Outputs exist once the apply wrote them (outputsKey); an ended job is asked regardless, and says so if it has none. */}
      {job.status.outputsKey || job.status.phase === 'completed' ? <OutputsTable job={job} /> : <p className="muted">No outputs yet.</p>}
    </section>
  );
}

function OutputsTable({ job }: { job: StackJob }) {
  const { api } = useSession();
  const id = job.metadata.id;
  const outputs = usePolled(
    `outputs:${id}:${job.status.outputsKey ?? ''}`,
    async (etag) => fetched(await api.GET('/v1/stack-jobs/{id}/outputs', { params: { path: { id } }, ...conditional(etag) })),
    { active: false },
  );
  if (outputs.error?.status === 404) return <p className="muted">This job has no outputs.</p>;
  if (outputs.error) return <ErrorNote error={outputs.error} />;
  if (!outputs.data) return <Loading what="outputs" />;
  const entries = Object.entries(outputs.data.outputs).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return <p className="muted">The module has no outputs.</p>;
  return (
    <table>
      <caption className="visually-hidden">Outputs of {id}</caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Type</th>
          <th scope="col">Value</th>
        </tr>
      </thead>
      <tbody>
        {entries.map(([name, o]) => (
          <OutputRow key={name} name={name} output={o} />
        ))}
      </tbody>
    </table>
  );
}

function OutputRow({ name, output }: { name: string; output: Schemas['OutputValue'] }) {
  return (
    <tr>
      <th scope="row">
        <code>{name}</code>
      </th>
      <td>{output.type === undefined ? <span className="muted">—</span> : <code>{shown(output.type)}</code>}</td>
      <td>{output.sensitive ? <span className="value-masked">(sensitive)</span> : <code className="value">{shown(output.value)}</code>}</td>
    </tr>
  );
}
