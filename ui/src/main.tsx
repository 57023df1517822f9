import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { areaOf, areas } from './areas.ts';
import { pathBelowBase } from './route-match.ts';
import { getSession } from './session.ts';
import { applyTheme, currentTheme } from './theme.ts';
import './styles.css';
import './components/console-pages.css';

// Signed in (a reload or a deep link): the page's area is fetched now, alongside React's start, and
// React's first render waits for it (at most 2 s): a page that suspended would show "Loading the
// page…" first, and React keeps a fallback on screen for at least 300 ms. Signed out, the sign-in
// page fetches the first pages of a session while it is idle (App.tsx).
function firstArea(): Promise<unknown> {
  if (!getSession()) return Promise.resolve();
  const path = pathBelowBase(window.location.pathname);
  // App sends a signed-in `/` and `/signin` to the projects.
  const area = path === '/' || path === '/signin' ? 'projects' : areaOf(path);
  if (!area) return Promise.resolve();
  return Promise.race([
    areas[area]().catch(() => undefined), // rendering the page loads it again and shows the failure
    new Promise((resolve) => setTimeout(resolve, 2000)),
  ]);
}

applyTheme(currentTheme());
void firstArea().then(() =>
  createRoot(document.getElementById('root')!).render(
    <StrictMode>
      <App />
    </StrictMode>,
  ),
);
