/** The routes. Every page but sign-in needs a session; each page reads the API with the session's token. */
import { lazy, Suspense } from 'react';
import { BrowserRouter, Navigate, Route, Routes } from 'react-router';
import { useSession } from './auth/session';
import { Loading } from './components/common';
import { Layout, OrgProvider } from './components/Layout';
import { JobPage } from './pages/JobPage';
import { JobsPage } from './pages/JobsPage';
import { SignInPage } from './pages/SignInPage';

// The Jobs and Job pages are where people land (an approval's link opens a Job page): they come with the first script.
// The others load on demand, keeping it small; React holds a lazy page's content back at least 300 ms after its
// fallback shows, which a page people wait on should not pay.
const ResourcePage = lazy(() => import('./pages/ResourcePage').then((m) => ({ default: m.ResourcePage })));
const CatalogPage = lazy(() => import('./pages/CatalogPage').then((m) => ({ default: m.CatalogPage })));
const PreflightPage = lazy(() => import('./pages/PreflightPage').then((m) => ({ default: m.PreflightPage })));

export function App() {
  const { me } = useSession();
  if (!me) return <SignInPage />;
  return (
    <BrowserRouter>
      <OrgProvider>
        <Suspense fallback={<Loading what="page" />}>
          <Routes>
            <Route element={<Layout />}>
              <Route index element={<Navigate to="/jobs" replace />} />
              <Route path="callback" element={<Navigate to="/jobs" replace />} />
              <Route path="jobs" element={<JobsPage />} />
              <Route path="jobs/:id" element={<JobPage />} />
              <Route path="orgs/:org/envs/:env/resources/:resourceId" element={<ResourcePage />} />
              <Route path="catalog" element={<CatalogPage />} />
              <Route path="preflight" element={<PreflightPage />} />
              <Route path="*" element={<p>There is no such page.</p>} />
            </Route>
          </Routes>
        </Suspense>
      </OrgProvider>
    </BrowserRouter>
  );
}
