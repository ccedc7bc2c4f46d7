/**
 * Pre-flight: paste or upload a change (YAML or JSON), run the four checks against the catalog without creating
 * anything, then submit the same change as a stack job. Both need operator or admin in the change's own org, so what
 * the principal may not do there is not offered.
 */
import { useId, useMemo, useState } from 'react';
import { useNavigate } from 'react-router';
import type { Schemas } from '../api/client';
import { useMe } from '../auth/session';
import { FieldProblems, outcome, type RequestProblem } from '../components/catalog/FieldProblems';
import { jobPath } from '../components/common';
import { CheckResults } from '../components/preflight/CheckResults';
import { EXAMPLE_CHANGE, parseChange } from '../components/preflight/change';

type PreflightResult = Schemas['PreflightResult'];

/** FileReader rather than `file.text()`: the same in every browser, and in jsdom. */
function readText(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error ?? new Error('unreadable'));
    reader.readAsText(file);
  });
}

export function PreflightPage() {
  const { api, me, can } = useMe();
  const navigate = useNavigate();
  const ids = useId();
  const [text, setText] = useState('');
  const [touched, setTouched] = useState(false);
  const [busy, setBusy] = useState<'preflight' | 'submit' | undefined>();
  // The result belongs to the text it was run on: editing the change makes it stale.
  const [result, setResult] = useState<{ text: string; result: PreflightResult } | undefined>();
  const [runProblem, setRunProblem] = useState<RequestProblem | undefined>();
  const [submitProblem, setSubmitProblem] = useState<RequestProblem | undefined>();
  const [uploadError, setUploadError] = useState<string | undefined>();

  const parsed = useMemo(() => parseChange(text), [text]);
  const org = parsed.org;
  const forbidden = org !== undefined && !can(org, 'submit');
  const mayAnywhere = me.orgs.some((o) => o.permissions.includes('submit'));
  const current = result && result.text === text ? result.result : undefined;

  const edit = (next: string) => {
    setText(next);
    setRunProblem(undefined);
    setSubmitProblem(undefined);
  };

  const upload = async (file: File | undefined) => {
    setUploadError(undefined);
    if (!file) return;
    try {
      edit(await readText(file));
    } catch (e) {
      setUploadError(`Could not read ${file.name}: ${(e as Error).message}`);
    }
  };

  const run = async () => {
    setTouched(true);
    if (!parsed.change || forbidden) return;
    setBusy('preflight');
    setSubmitProblem(undefined);
    const change = parsed.change;
    const answer = await outcome(() => api.POST('/v1/preflight', { body: change }));
    setBusy(undefined);
    setResult(answer.data && { text, result: answer.data });
    setRunProblem(answer.problem);
  };

  const submit = async () => {
    if (!parsed.change) return;
    setBusy('submit');
    const change = parsed.change;
    const answer = await outcome(() => api.POST('/v1/stack-jobs', { body: change }));
    setBusy(undefined);
    // 201 created, or 200: a repeat of a submission, answered with the job the first one created.
    if (answer.data) navigate(jobPath(answer.data.metadata.id));
    else setSubmitProblem(answer.problem);
  };

  const changeErrorId = `${ids}-change-error`;
  const forbiddenId = `${ids}-forbidden`;
  const parseError = touched ? parsed.error : undefined;

  return (
    <section aria-labelledby="preflight-title">
      <h1 id="preflight-title">Pre-flight</h1>
      <p className="muted">
        Check a change against the catalog (provider credential, IaC module, state backend, flow control policy) without creating anything, then submit it as a
        stack job.
      </p>
      {!mayAnywhere && (
        <p className="notice">Running pre-flight and submitting need the role operator or admin in the change&apos;s org; you have it in none of your orgs.</p>
      )}
      <form
        className="preflight-form"
        onSubmit={(e) => {
          e.preventDefault();
          void run();
        }}
      >
        <label>
          Upload a change
          <input type="file" accept=".yaml,.yml,.json,application/json,application/yaml,text/yaml" onChange={(e) => void upload(e.target.files?.[0])} />
        </label>
        {uploadError && <p className="field-error">{uploadError}</p>}
        <label>
          Change
          <textarea
            value={text}
            onChange={(e) => edit(e.target.value)}
            placeholder={EXAMPLE_CHANGE}
            rows={18}
            spellCheck={false}
            aria-invalid={parseError ? true : undefined}
            aria-describedby={parseError ? changeErrorId : undefined}
          />
        </label>
        {parseError && (
          <p id={changeErrorId} className="field-error" role="alert">
            {parseError}
          </p>
        )}
        {forbidden && (
          <p id={forbiddenId} className="notice">
            You may not run pre-flight or submit changes in org {org}: that needs the role operator or admin there.
          </p>
        )}
        <div className="actions">
          <button type="submit" className="primary" disabled={busy !== undefined || forbidden} aria-describedby={forbidden ? forbiddenId : undefined}>
            {busy === 'preflight' ? 'Running pre-flight…' : 'Run pre-flight'}
          </button>
          {!text && (
            <button type="button" onClick={() => edit(EXAMPLE_CHANGE)}>
              Use the example
            </button>
          )}
        </div>
      </form>
      <FieldProblems problem={runProblem} />
      {current && (
        <section aria-labelledby="preflight-checks" className="panel">
          <h2 id="preflight-checks">Checks: {current.passed ? 'all passed' : `${current.checks.filter((c) => !c.passed).length} failed`}</h2>
          <CheckResults checks={current.checks} />
          {org && can(org, 'submit') && (
            <div className="actions">
              <button
                type="button"
                className="primary"
                onClick={() => void submit()}
                disabled={busy !== undefined || !current.passed}
                aria-describedby={current.passed ? undefined : `${ids}-fix`}
              >
                {busy === 'submit' ? 'Submitting…' : 'Submit'}
              </button>
              {!current.passed && (
                <span id={`${ids}-fix`} className="muted">
                  Fix the change or the catalog and run pre-flight again to submit.
                </span>
              )}
            </div>
          )}
          {submitProblem && (
            <>
              <FieldProblems problem={submitProblem} />
              {submitProblem.checks && (
                <>
                  <h3>Checks at submission</h3>
                  <CheckResults checks={submitProblem.checks} level={4} />
                </>
              )}
            </>
          )}
        </section>
      )}
    </section>
  );
}
