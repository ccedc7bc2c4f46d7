/**
 * The catalog: every kind of the current org, and the platform's kinds everyone reads, one tab each. An org's admins
 * create, edit and delete its entries; platform admins the platform's. Nobody else is offered a write.
 */
import { Fragment, useRef, useState, type KeyboardEvent } from 'react';
import { useSearchParams } from 'react-router';
import { problemText } from '../api/client';
import { fetched, usePolled } from '../api/poll';
import { useMe } from '../auth/session';
import { EntryEditor } from '../components/catalog/EntryEditor';
import { deleteEntry, listEntries, ORG_KINDS, PLATFORM_KINDS, shelfTitle, viewOf, type Entry, type Shelf } from '../components/catalog/kinds';
import { ConfirmDialog, ErrorNote, Loading } from '../components/common';
import { useOrg } from '../components/Layout';
import '../components/catalog/catalog.css';

const shelfKey = (s: Shelf) => `${s.scope}-${s.kind}`;

export function CatalogPage() {
  const { org } = useOrg();
  const [params, setParams] = useSearchParams();
  const shelves: Shelf[] = [
    ...(org ? ORG_KINDS.map((kind) => ({ scope: 'org' as const, kind })) : []),
    ...PLATFORM_KINDS.map((kind) => ({ scope: 'platform' as const, kind })),
  ];
  const asked = { scope: params.get('scope') === 'platform' ? 'platform' : 'org', kind: params.get('kind') } as const;
  const current = shelves.find((s) => s.scope === asked.scope && s.kind === asked.kind) ?? shelves[0];
  const tabs = useRef<(HTMLButtonElement | null)[]>([]);

  const choose = (shelf: Shelf, focus = false) => {
    setParams({ scope: shelf.scope, kind: shelf.kind }, { replace: true });
    if (focus) tabs.current[shelves.findIndex((s) => shelfKey(s) === shelfKey(shelf))]?.focus();
  };

  // The tabs' keyboard pattern (WAI-ARIA): arrows move and select, Home/End jump; Tab leaves the tab list.
  const onKeyDown = (e: KeyboardEvent) => {
    const at = shelves.findIndex((s) => shelfKey(s) === shelfKey(current));
    const to = { ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1, Home: 0, End: shelves.length - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    choose(shelves[(to + shelves.length) % shelves.length], true);
  };

  return (
    <section aria-labelledby="catalog-title">
      <h1 id="catalog-title">Catalog</h1>
      <div role="tablist" aria-label="Catalog kinds" className="tabs catalog-tabs" onKeyDown={onKeyDown}>
        {shelves.map((s, i) => {
          const selected = shelfKey(s) === shelfKey(current);
          return (
            <button
              key={shelfKey(s)}
              ref={(el) => {
                tabs.current[i] = el;
              }}
              type="button"
              role="tab"
              id={`tab-${shelfKey(s)}`}
              aria-selected={selected}
              aria-controls="catalog-panel"
              tabIndex={selected ? 0 : -1}
              onClick={() => choose(s)}
            >
              {shelfTitle(s)}
            </button>
          );
        })}
      </div>
      <div role="tabpanel" id="catalog-panel" aria-labelledby={`tab-${shelfKey(current)}`}>
        <CatalogShelf key={`${org}/${shelfKey(current)}`} shelf={current} org={org} />
      </div>
    </section>
  );
}

function CatalogShelf({ shelf, org }: { shelf: Shelf; org: string }) {
  const { api, me, can } = useMe();
  const view = viewOf(shelf.kind);
  const mayWrite = shelf.scope === 'platform' ? me.platformAdmin : can(org, 'admin');
  const list = usePolled(`${org}/${shelfKey(shelf)}`, async (etag) => fetched(await listEntries(api, shelf, org, etag)), { active: false });
  const [editor, setEditor] = useState<{ editing?: { id: string; entry: Entry } } | undefined>();
  const [open, setOpen] = useState<Set<string>>(new Set());
  const [deleting, setDeleting] = useState<string | undefined>();
  const [notice, setNotice] = useState<string | undefined>();
  const [actionError, setActionError] = useState<string | undefined>();

  const toggle = (id: string) =>
    setOpen((was) => {
      const next = new Set(was);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  const confirmDelete = async () => {
    const id = deleting;
    setDeleting(undefined);
    if (!id) return;
    setActionError(undefined);
    try {
      const answer = await deleteEntry(api, shelf, org, id);
      if (!answer.response.ok) throw new Error(problemText(answer.error, answer.response.status));
      setNotice(`Deleted ${view.one} ${id}.`);
      list.refresh();
    } catch (e) {
      setActionError(`Could not delete ${id}: ${(e as Error).message}`);
    }
  };

  const where = shelf.scope === 'platform' ? 'the platform (every org uses these)' : org;
  const items = list.data?.items ?? [];
  const columns = view.columns.length + 2;
  return (
    <>
      <h2>
        {shelfTitle(shelf)} <span className="muted">in {where}</span>
      </h2>
      {mayWrite && !editor && (
        <div className="actions">
          <button
            type="button"
            className="primary"
            onClick={() => {
              setNotice(undefined);
              setEditor({});
            }}
          >
            Create {view.one}
          </button>
        </div>
      )}
      {mayWrite && editor && (
        <EntryEditor
          api={api}
          shelf={shelf}
          org={org}
          {...(editor.editing ? { editing: editor.editing } : {})}
          existingIds={items.map((entry) => view.idOf(entry))}
          onCancel={() => setEditor(undefined)}
          onSaved={(_entry, id) => {
            setEditor(undefined);
            setNotice(`Saved ${view.one} ${id}.`);
            list.refresh();
          }}
        />
      )}
      <p role="status" className="muted catalog-notice">
        {notice}
      </p>
      <ErrorNote error={actionError} />
      <ErrorNote error={list.error} />
      {list.loading && !list.data ? (
        <Loading what={shelfTitle(shelf).toLowerCase()} />
      ) : list.data && items.length === 0 ? (
        <p>No {view.title.toLowerCase()} yet.</p>
      ) : list.data ? (
        <table className="catalog-table">
          <caption className="visually-hidden">
            {shelfTitle(shelf)} in {where}
          </caption>
          <thead>
            <tr>
              <th scope="col">Id</th>
              {view.columns.map((c) => (
                <th key={c.header} scope="col">
                  {c.header}
                </th>
              ))}
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {items.map((entry) => {
              const id = view.idOf(entry);
              const detailId = `entry-${shelfKey(shelf)}-${id}`;
              const expanded = open.has(id);
              return (
                <Fragment key={id}>
                  <tr>
                    <th scope="row">
                      <code>{id}</code>
                    </th>
                    {view.columns.map((c) => (
                      <td key={c.header}>{c.cell(entry)}</td>
                    ))}
                    <td className="catalog-actions">
                      <button
                        type="button"
                        aria-expanded={expanded}
                        aria-controls={detailId}
                        aria-label={`${expanded ? 'Hide' : 'Show'} definition of ${id}`}
                        onClick={() => toggle(id)}
                      >
                        {expanded ? 'Hide' : 'Show'}
                      </button>
                      {mayWrite && (
                        <>
                          <button
                            type="button"
                            aria-label={`Edit ${id}`}
                            onClick={() => {
                              setNotice(undefined);
                              setEditor({ editing: { id, entry } });
                            }}
                          >
                            Edit
                          </button>
                          <button type="button" className="danger" aria-label={`Delete ${id}`} onClick={() => setDeleting(id)}>
                            Delete
                          </button>
                        </>
                      )}
                    </td>
                  </tr>
                  {expanded && (
                    <tr id={detailId} className="catalog-detail">
                      <td colSpan={columns}>
                        <pre tabIndex={0}>{JSON.stringify(entry, null, 2)}</pre>
                      </td>
                    </tr>
                  )}
                </Fragment>
              );
            })}
          </tbody>
        </table>
      ) : null}
      {mayWrite && (
        <ConfirmDialog
          open={deleting !== undefined}
          title={`Delete ${view.one} ${deleting ?? ''}?`}
          confirmLabel="Delete"
          onConfirm={() => void confirmDelete()}
          onCancel={() => setDeleting(undefined)}
        >
          <p>
            {shelf.scope === 'platform'
              ? 'Every org that resolves to it will stop finding it: their next pre-flight fails unless another entry matches.'
              : 'Pre-flight will no longer find it for new jobs. Jobs already submitted keep their frozen snapshot.'}
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}
