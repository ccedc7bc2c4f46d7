/** The four pre-flight checks as a person reads them: passed or failed, what each found, and what it resolved. */
import { Fragment } from 'react';
import type { CheckResult } from '../catalog/FieldProblems';
import './preflight.css';

const TITLES: Record<CheckResult['check'], string> = {
  credential: 'Provider credential',
  module: 'IaC module',
  backend: 'State backend',
  flowControl: 'Flow control policy',
};

/** `level` keeps the headings in order wherever the list sits (a page section: 3; inside a panel's h3: 4). */
export function CheckResults({ checks, level = 3 }: { checks: CheckResult[]; level?: 3 | 4 }) {
  const Heading = level === 3 ? 'h3' : 'h4';
  return (
    <ul className="checks">
      {checks.map((c) => (
        <li key={c.check} className={`check ${c.passed ? 'check-passed' : 'check-failed'}`}>
          <Heading>
            {TITLES[c.check]} <span className={`badge ${c.passed ? 'state-succeeded' : 'state-failed'}`}>{c.passed ? 'passed' : 'failed'}</span>
          </Heading>
          {c.messages.length > 0 && (
            <ul className="check-messages">
              {c.messages.map((m, i) => (
                <li key={i}>{m}</li>
              ))}
            </ul>
          )}
          {c.resolved && Object.keys(c.resolved).length > 0 && (
            <>
              <p className="muted check-resolved">Resolved</p>
              <dl className="facts">
                {Object.entries(c.resolved).map(([k, v]) => (
                  <Fragment key={k}>
                    <dt>{k}</dt>
                    <dd>
                      <code>{typeof v === 'string' ? v : JSON.stringify(v)}</code>
                    </dd>
                  </Fragment>
                ))}
              </dl>
            </>
          )}
        </li>
      ))}
    </ul>
  );
}
