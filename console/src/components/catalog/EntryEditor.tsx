/**
 * Creates or replaces one catalog entry (PUT is both): an id and a definition in JSON or YAML. The API's validation
 * errors are shown beside the editor, each with its field's path; an error on the id is shown at the id too.
 */
import { useId, useState } from 'react';
import { parse } from 'yaml';
import type { Api } from '../../api/client';
import { FieldProblems, outcome, type RequestProblem } from './FieldProblems';
import { editable, putEntry, viewOf, type Entry, type Shelf } from './kinds';

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface EntryEditorProps {
  api: Api;
  shelf: Shelf;
  org: string;
  /** Editing an existing entry: its id is fixed (another id is another entry). */
  editing?: { id: string; entry: Entry };
  /** The ids listed now: creating one of them would replace it (PUT is both), so it is refused here. */
  existingIds?: string[];
  onSaved(entry: Entry, id: string): void;
  onCancel(): void;
}

/** The fields the API fills from the path (catalog-routes.ts, pathFilledFields). */
function pathFilled({ scope, kind }: Shelf): string[] {
  const fields = [kind === 'org-settings' ? 'org' : 'id'];
  if (kind === 'modules' || kind === 'runners') fields.push('scope');
  if (scope === 'org' && kind !== 'flow-control-policies' && kind !== 'org-settings') fields.push('org');
  return fields;
}

export function EntryEditor({ api, shelf, org, editing, existingIds = [], onSaved, onCancel }: EntryEditorProps) {
  const view = viewOf(shelf.kind);
  const ids = useId();
  const idFieldName = shelf.kind === 'org-settings' ? 'org' : 'id';
  const [id, setId] = useState(editing?.id ?? (shelf.kind === 'org-settings' ? org : ''));
  const [definition, setDefinition] = useState(() => JSON.stringify(editing ? editable(shelf.kind, editing.entry) : view.template(org, shelf.scope), null, 2));
  const [idError, setIdError] = useState<string | undefined>();
  const [definitionError, setDefinitionError] = useState<string | undefined>();
  const [problem, setProblem] = useState<RequestProblem | undefined>();
  const [saving, setSaving] = useState(false);

  const save = async () => {
    setProblem(undefined);
    const trimmed = id.trim();
    const badId = !trimmed
      ? 'Enter an id.'
      : !ID_PATTERN.test(trimmed)
        ? 'Letters, digits, ".", "_" and "-" only, starting with a letter or digit.'
        : !editing && existingIds.includes(trimmed)
          ? `${trimmed} exists already: edit it instead (creating it again would replace it).`
          : undefined;
    let body: unknown;
    let badDefinition: string | undefined;
    try {
      body = parse(definition);
      if (!body || typeof body !== 'object' || Array.isArray(body)) badDefinition = 'The definition is a mapping (a JSON object or a YAML map).';
    } catch (e) {
      badDefinition = `Not valid JSON or YAML: ${(e as Error).message}`;
    }
    setIdError(badId);
    setDefinitionError(badDefinition);
    if (badId || badDefinition) return;
    setSaving(true);
    const answer = await outcome(() => putEntry(api, shelf, org, trimmed, body as object));
    setSaving(false);
    if (answer.data) {
      onSaved(answer.data, trimmed);
      return;
    }
    setProblem(answer.problem);
    const atId = answer.problem.errors.find((e) => e.path === idFieldName);
    if (atId) setIdError(atId.message);
  };

  const problemsId = `${ids}-problems`;
  const title = editing ? `Edit ${view.one} ${editing.id}` : `Create ${view.one}`;
  return (
    <form
      className="panel catalog-editor"
      aria-labelledby={`${ids}-title`}
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      <h3 id={`${ids}-title`}>{title}</h3>
      <p className="muted">
        {shelf.scope === 'platform' ? 'In the platform catalog, used by every org.' : `In ${org}'s catalog.`} JSON or YAML; what the path says (
        {pathFilled(shelf).join(', ')}) may be left out. Secrets are referenced by ARN or name, never pasted.
      </p>
      <div className="catalog-editor-fields">
        <div className="catalog-editor-main">
          <label>
            Id
            <input
              value={id}
              readOnly={editing !== undefined}
              onChange={(e) => setId(e.target.value)}
              aria-invalid={idError ? true : undefined}
              aria-describedby={idError ? `${ids}-id-error` : undefined}
              spellCheck={false}
              autoComplete="off"
            />
          </label>
          {idError && (
            <p id={`${ids}-id-error`} className="field-error">
              {idError}
            </p>
          )}
          <label>
            Definition
            <textarea
              value={definition}
              onChange={(e) => setDefinition(e.target.value)}
              rows={16}
              spellCheck={false}
              aria-invalid={definitionError || problem ? true : undefined}
              aria-describedby={[definitionError ? `${ids}-definition-error` : '', problem ? problemsId : ''].filter(Boolean).join(' ') || undefined}
            />
          </label>
          {definitionError && (
            <p id={`${ids}-definition-error`} className="field-error" role="alert">
              {definitionError}
            </p>
          )}
        </div>
        <FieldProblems id={problemsId} problem={problem} />
      </div>
      <div className="actions">
        <button type="submit" className="primary" disabled={saving}>
          {saving ? 'Saving…' : 'Save'}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
