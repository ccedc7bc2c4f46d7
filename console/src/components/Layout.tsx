/** The frame of every signed-in page: navigation, the org being looked at, who is signed in. */
import { createContext, useContext, useState, type ReactNode } from 'react';
import { NavLink, Outlet } from 'react-router';
import { useMe } from '../auth/session';

const ORG_KEY = 'stackjobs.org';

interface OrgChoice {
  org: string;
  setOrg(org: string): void;
}
const OrgContext = createContext<OrgChoice | undefined>(undefined);

/** The org the pages list things in (one of the principal's orgs). */
export function useOrg(): OrgChoice {
  const c = useContext(OrgContext);
  if (!c) throw new Error('useOrg outside Layout');
  return c;
}

export function OrgProvider({ children }: { children: ReactNode }) {
  const { me } = useMe();
  const orgs = me.orgs.map((o) => o.org);
  const saved = localStorage.getItem(ORG_KEY);
  const [org, setOrgState] = useState(saved && orgs.includes(saved) ? saved : (orgs[0] ?? ''));
  const setOrg = (o: string) => {
    localStorage.setItem(ORG_KEY, o);
    setOrgState(o);
  };
  return <OrgContext.Provider value={{ org, setOrg }}>{children}</OrgContext.Provider>;
}

export function Layout() {
  const { me, signOut } = useMe();
  const { org, setOrg } = useOrg();
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">Stack Jobs</span>
        <nav aria-label="Main">
          <NavLink to="/jobs">Jobs</NavLink>
          <NavLink to="/catalog">Catalog</NavLink>
          <NavLink to="/preflight">Pre-flight</NavLink>
        </nav>
        <div className="who">
          {me.orgs.length > 0 && (
            <label>
              Org{' '}
              <select value={org} onChange={(e) => setOrg(e.target.value)}>
                {me.orgs.map((o) => (
                  <option key={o.org} value={o.org}>
                    {o.org}
                  </option>
                ))}
              </select>
            </label>
          )}
          <span className="subject" title={me.orgs.map((o) => `${o.org}: ${o.roles.join(', ') || 'no role'}`).join('\n')}>
            {me.subject}
          </span>
          <button type="button" onClick={() => signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </>
  );
}
