/**
 * Pre-flight's four checks, and the snapshot the job was frozen with at submission (its essentials): what it runs,
 * where its state lives, which credential it uses and which policy governs it. Credentials appear as references
 * (kind, id, secret name), never as values.
 */
import { Fragment, type ReactNode } from 'react';
import type { StackJob } from '../../api/client';
import './job.css';

type Essentials = StackJob['spec']['essentials'];

const CHECK_TITLE: Record<StackJob['status']['preflight'][number]['check'], string> = {
  credential: 'Credential',
  module: 'Module',
  backend: 'Backend',
  flowControl: 'Flow control',
};

export function PreflightPanel({ job }: { job: StackJob }) {
  const checks = job.status.preflight;
  return (
    <section className="panel" aria-labelledby="preflight-title">
      <h2 id="preflight-title">Pre-flight</h2>
      {checks.length === 0 ? (
        <p className="muted">No pre-flight results.</p>
      ) : (
        <ul className="checks">
          {checks.map((c) => (
            <li key={c.check}>
              <span className={`badge ${c.passed ? 'state-succeeded' : 'state-failed'}`}>{c.passed ? 'passed' : 'failed'}</span>{' '}
              <strong>{CHECK_TITLE[c.check]}</strong>
              {c.messages.length > 0 && (
                <ul>
                  {c.messages.map((m, i) => (
                    <li key={i}>{m}</li>
                  ))}
                </ul>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** A definition list that skips the facts a snapshot does not have. */
function Facts({ items }: { items: [string, ReactNode][] }) {
  return (
    <dl className="facts">
      {items
        .filter(([, v]) => v !== undefined && v !== null && v !== '')
        .map(([k, v]) => (
          <Fragment key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </Fragment>
        ))}
    </dl>
  );
}

const yesNo = (b: boolean) => (b ? 'yes' : 'no');

/** The backend's configuration as written (bucket, region, key prefix, lock table…): locations, not secrets. */
function backendConfig(config: Record<string, unknown>): string | undefined {
  const entries = Object.entries(config).filter(([, v]) => v !== undefined && v !== null && typeof v !== 'object');
  return entries.length ? entries.map(([k, v]) => `${k}=${String(v)}`).join(', ') : undefined;
}

export function SnapshotPanel({ job }: { job: StackJob }) {
  const e: Essentials = job.spec.essentials;
  const policy = e.flowControlPolicy;
  return (
    <section className="panel" aria-labelledby="snapshot-title">
      <h2 id="snapshot-title">Frozen snapshot</h2>
      <p className="muted">What the job was resolved to at submission; it runs with these, whatever changes in the catalog later.</p>
      <h3>Module</h3>
      <Facts
        items={[
          ['Provisioner', e.provisioner],
          ['Module', <code key="id">{e.iacModule.id}</code>],
          ['Chosen by rule', e.iacModule.rule],
          ['Git repository', <code key="repo">{e.iacModule.gitRepo}</code>],
          ['Branch', e.iacModule.branch],
          ['Path', <code key="path">{e.iacModule.path}</code>],
          ['Commit', job.status.moduleCommit ? <code key="commit">{job.status.moduleCommit}</code> : undefined],
          ['Provider', e.iacModule.provider],
          ['Git token (secret reference)', e.iacModule.gitTokenSecretRef ? <code key="token">{e.iacModule.gitTokenSecretRef}</code> : undefined],
        ]}
      />
      <h3>Backend</h3>
      <Facts
        items={[
          ['Credential', `${e.backendCredential.kind} ${e.backendCredential.id}`],
          ['Type', e.backendCredential.type],
          ['State key', <code key="key">{e.backendCredential.stateKey}</code>],
          ['Configuration', backendConfig(e.backendCredential.config)],
          ['Secret reference', e.backendCredential.secretRef ? <code key="ref">{e.backendCredential.secretRef}</code> : undefined],
        ]}
      />
      <h3>Provider credential</h3>
      {e.providerCredential ? (
        <Facts
          items={[
            ['Credential', `${e.providerCredential.kind} ${e.providerCredential.id}`],
            ['Provider', e.providerCredential.provider],
            ['Secret reference', e.providerCredential.secretRef ? <code key="ref">{e.providerCredential.secretRef}</code> : undefined],
            ['Role', e.providerCredential.roleArn ? <code key="role">{e.providerCredential.roleArn}</code> : undefined],
            ['External ID', e.providerCredential.externalId ? 'set (not shown)' : undefined],
          ]}
        />
      ) : (
        <p className="muted">None: the module needs no provider credential.</p>
      )}
      <h3>Flow control policy</h3>
      <Facts
        items={[
          ['Policy', `${policy.source.id} (${policy.source.level} level)`],
          ['Preview before update', yesNo(policy.previewBeforeUpdate)],
          ['Pause for approval', yesNo(policy.pauseBetweenPreviewAndUpdate)],
          ['Skip refresh', yesNo(policy.skipRefresh)],
          [
            'Approvers',
            policy.approvers.length === 0
              ? 'anyone with the approver role'
              : policy.approvers.map((a) => `${a.subject}${a.environments ? ` (${a.environments.join(', ')})` : ''}`).join('; '),
          ],
          ['Approval timeout', `${policy.approvalTimeoutMinutes} min`],
        ]}
      />
      <h3>Plan policies</h3>
      {!e.planPolicies || e.planPolicies.length === 0 ? (
        <p className="muted">None apply to this job.</p>
      ) : (
        <ul className="plan-policies">
          {e.planPolicies.map((p) => (
            <li key={`${p.source}/${p.id}`}>
              <strong>{p.id}</strong>{' '}
              <span className="muted">
                ({p.source}, {p.selector.level} level)
              </span>
              <ul>
                {p.rules.map((r) => (
                  <li key={r.name}>
                    {r.name}: {r.effect.replace(/_/g, ' ')}
                    {r.approvals ? ` (${r.approvals} approvers)` : ''} when <code>{r.expression}</code> — {r.message}
                  </li>
                ))}
              </ul>
            </li>
          ))}
        </ul>
      )}
      <h3>Runner</h3>
      <Facts items={[['Runner', e.stackJobRunner.id]]} />
    </section>
  );
}
