/** One resource's (or the outputs') attribute changes as a table: path, before → after, masks shown as the API words them. */
import type { Schemas } from '../../api/client';
import './job.css';

export type AttributeChange = Schemas['PlanChanges']['outputs'][number];

/** The words the API puts in place of a value it will not or cannot show. */
const MASKS = new Set(['(sensitive)', '(known after apply)']);

/** A value as the API gives it; its absence (new or removed) and the masks are muted so they never read as real values. */
export function DiffValue({ value, absent }: { value?: string; absent: string }) {
  if (value === undefined) return <span className="value-absent">{absent}</span>;
  if (MASKS.has(value)) return <span className="value-masked">{value}</span>;
  return <code className="value">{value}</code>;
}

export function AttributeDiff({ caption, changes, pathLabel = 'Attribute' }: { caption: string; changes: AttributeChange[]; pathLabel?: string }) {
  return (
    <table className="diff">
      <caption className="visually-hidden">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">{pathLabel}</th>
          <th scope="col">Before</th>
          <th scope="col">After</th>
        </tr>
      </thead>
      <tbody>
        {changes.map((c) => (
          <tr key={c.path}>
            <th scope="row">
              <code>{c.path}</code>
            </th>
            <td>
              <DiffValue value={c.before} absent="(none)" />
            </td>
            <td>
              <span className="diff-arrow" aria-hidden="true">
                →{' '}
              </span>
              <DiffValue value={c.after} absent="(removed)" />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
