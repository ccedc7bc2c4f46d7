/**
 * The plan as an approver reads it: the summary line, resources grouped by action (each expandable to its attribute
 * diff), output changes, the drift the refresh found, and the plan policies' results. Drift checks have no plan: their
 * drift comes from the drift changes.
 */
import { useId, useState } from 'react';
import type { Schemas, StackJob } from '../../api/client';
import { conditional, fetched, usePolled } from '../../api/poll';
import { useSession } from '../../auth/session';
import { ErrorNote, Loading } from '../common';
import { when } from '../../format';
import { AttributeDiff } from './AttributeDiff';
import { summaryLine } from './plan-summary';
import './job.css';

type PlanChanges = Schemas['PlanChanges'];
type ResourceChange = PlanChanges['resources'][number];
type Action = ResourceChange['action'];
type Drift = PlanChanges['drift'];

/** Most consequential first, as an approver weighs them. */
const ACTION_ORDER: Action[] = ['create', 'update', 'replace', 'delete', 'read', 'import', 'forget', 'move', 'no-op'];
const ACTION_TITLE: Record<Action, string> = {
  create: 'Create',
  update: 'Update',
  replace: 'Replace',
  delete: 'Delete',
  read: 'Read',
  import: 'Import',
  forget: 'Forget',
  move: 'Move',
  'no-op': 'No change',
};

export function PlanPanel({ job }: { job: StackJob }) {
  if (job.spec.driftCheck) return <DriftCheckPanel job={job} />;
  return <PlanChangesPanel job={job} />;
}

function PlanChangesPanel({ job }: { job: StackJob }) {
  const { api } = useSession();
  const id = job.metadata.id;
  // Read again when a plan appears or its policy results do; otherwise once (the plan of a job never changes).
  const key = `plan:${id}:${job.status.plan?.digest ?? ''}:${job.status.policy?.evaluatedAt ?? ''}`;
  const plan = usePolled(key, async (etag) => fetched(await api.GET('/v1/stack-jobs/{id}/plan/changes', { params: { path: { id } }, ...conditional(etag) })), {
    active: false,
  });
  return (
    <section className="panel" aria-labelledby="plan-title">
      <h2 id="plan-title">Plan</h2>
      {plan.error?.status === 404 ? (
        <p className="muted">No plan yet.</p>
      ) : plan.error ? (
        <ErrorNote error={plan.error} />
      ) : !plan.data ? (
        <Loading what="the plan" />
      ) : (
        <PlanBody plan={plan.data} skipRefresh={job.spec.essentials.flowControlPolicy.skipRefresh} />
      )}
    </section>
  );
}

function PlanBody({ plan, skipRefresh }: { plan: PlanChanges; skipRefresh: boolean }) {
  const groups = ACTION_ORDER.map((action) => ({ action, resources: plan.resources.filter((r) => r.action === action) })).filter((g) => g.resources.length > 0);
  return (
    <>
      <p className="plan-summary">
        <strong>{summaryLine(plan.summary)}</strong>
      </p>
      <p className="muted">
        Plan digest <code title={plan.digest}>{plan.digest.slice(0, 12)}</code> (the approval is bound to it)
        {plan.totalResources > plan.resources.length ? ` · showing ${plan.resources.length} of ${plan.totalResources} changed resources` : ''}
      </p>
      {plan.policy && <PolicyResults policy={plan.policy} />}
      {groups.length === 0 && <p>No resource changes.</p>}
      {groups.map((g) => (
        <section key={g.action} aria-labelledby={`plan-${g.action}`} className="plan-group">
          <h3 id={`plan-${g.action}`} className={`action-${g.action}`}>
            {ACTION_TITLE[g.action]} ({g.resources.length})
          </h3>
          <ul className="plan-resources">
            {g.resources.map((r) => (
              <li key={r.address}>
                <ResourceDiff resource={r} />
              </li>
            ))}
          </ul>
        </section>
      ))}
      <h3>Output changes</h3>
      {plan.outputs.length === 0 ? (
        <p className="muted">No output changes.</p>
      ) : (
        <AttributeDiff caption="Output changes" changes={plan.outputs} pathLabel="Output" />
      )}
      <h3>Drift found by the refresh</h3>
      {skipRefresh ? <p className="muted">The policy skips the refresh: drift was not looked for.</p> : <DriftList drift={plan.drift} />}
    </>
  );
}

/** One resource: its address as a button that shows or hides its attribute diff (rendered only when shown). */
function ResourceDiff({ resource }: { resource: Pick<ResourceChange, 'address' | 'attributes' | 'replaceBecause' | 'attributesTruncated'> }) {
  const [open, setOpen] = useState(false);
  const panelId = useId();
  return (
    <>
      <button type="button" className="disclosure" aria-expanded={open} aria-controls={panelId} onClick={() => setOpen(!open)}>
        <code>{resource.address}</code>
      </button>
      {resource.replaceBecause && resource.replaceBecause.length > 0 && (
        <span className="replace-because"> replaced because {resource.replaceBecause.join(', ')} changed</span>
      )}
      <div id={panelId} hidden={!open}>
        {open &&
          (resource.attributes.length === 0 ? (
            <p className="muted">No attribute changes.</p>
          ) : (
            <>
              <AttributeDiff caption={`Attribute changes of ${resource.address}`} changes={resource.attributes} />
              {resource.attributesTruncated && <p className="muted">More attributes changed than are listed here.</p>}
            </>
          ))}
      </div>
    </>
  );
}

function DriftList({ drift }: { drift: Drift }) {
  if (drift.length === 0) return <p className="muted">No drift: nothing changed outside Stack Jobs.</p>;
  return (
    <ul className="plan-resources">
      {drift.map((d) => (
        <li key={d.address}>
          <ResourceDiff resource={d} />
        </li>
      ))}
    </ul>
  );
}

function PolicyResults({ policy }: { policy: NonNullable<PlanChanges['policy']> }) {
  // A rule whose expression held (passed false) applied its effect; one that could not be evaluated says why.
  const held = policy.results.filter((r) => !r.passed || r.error);
  return (
    <div className={`policy policy-${policy.outcome}`}>
      <h3>Plan policies: {policy.outcome}</h3>
      {policy.requiredApprovals !== undefined && policy.requiredApprovals > 1 && <p>This plan needs {policy.requiredApprovals} distinct approvers.</p>}
      {held.length === 0 ? (
        <p className="muted">Every rule passed (evaluated {when(policy.evaluatedAt)}).</p>
      ) : (
        <ul>
          {held.map((r) => (
            <li key={`${r.policy}/${r.rule}`}>
              <strong>{r.effect.replace(/_/g, ' ')}</strong> ({r.source} policy {r.policy}, rule {r.rule}): {r.error ?? r.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** A drift check: what its refresh found, attribute by attribute (Terraform, OpenTofu), or by address (Pulumi keeps no document). */
function DriftCheckPanel({ job }: { job: StackJob }) {
  const { api } = useSession();
  const id = job.metadata.id;
  const checked = job.status.drift;
  const drift = usePolled(
    `drift:${id}:${checked?.checkedAt ?? ''}`,
    async (etag) => fetched(await api.GET('/v1/stack-jobs/{id}/drift/changes', { params: { path: { id } }, ...conditional(etag) })),
    { active: false },
  );
  return (
    <section className="panel" aria-labelledby="drift-title">
      <h2 id="drift-title">Drift</h2>
      <p className="muted">A drift check: the refresh only looks; nothing is planned or applied.</p>
      {drift.data ? (
        <>
          <p>
            <strong>{drift.data.total === 0 ? 'No drift' : `${drift.data.total} resource${drift.data.total === 1 ? '' : 's'} drifted`}</strong> (checked{' '}
            {when(drift.data.checkedAt)})
          </p>
          <DriftList drift={drift.data.drift} />
        </>
      ) : drift.error?.status === 404 ? (
        checked ? (
          <>
            <p>
              <strong>{checked.total === 0 ? 'No drift' : `${checked.total} resource${checked.total === 1 ? '' : 's'} drifted`}</strong> (checked{' '}
              {when(checked.checkedAt)})
            </p>
            <ul>
              {checked.resources.map((r) => (
                <li key={r.address}>
                  <code>{r.address}</code> <span className="muted">{r.actions.join(', ')}</span>
                </li>
              ))}
            </ul>
          </>
        ) : (
          <p className="muted">No drift result yet.</p>
        )
      ) : drift.error ? (
        <ErrorNote error={drift.error} />
      ) : (
        <Loading what="the drift" />
      )}
    </section>
  );
}
