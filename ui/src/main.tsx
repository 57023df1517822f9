import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { areaOf, preload } from './areas.ts';
import { pathBelowBase } from './route-match.ts';
import { getSession } from './session.ts';
import { applyTheme, currentTheme } from './theme.ts';
import './styles.css';
import './components/console-pages.css';

// Signed in (a reload or a deep link): the page's area is fetched now, alongside React's first
// render, rather than after it. Signed out, the sign-in page fetches the first pages of a session
// while it is idle (App.tsx).
if (getSession()) {
  const path = pathBelowBase(window.location.pathname);
  // App sends a signed-in `/` and `/signin` to the projects.
  const area = path === '/' || path === '/signin' ? 'projects' : areaOf(path);
  if (area) preload(area);
}
applyTheme(currentTheme());
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
