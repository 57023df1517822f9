import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { currentPath } from './router.tsx';
import { preloadRoute } from './routes.tsx';
import { getSession } from './session.ts';
import { applyTheme, currentTheme } from './theme.ts';
import './styles.css';

// Signed in (a reload or a deep link): the page's chunk is fetched now, alongside React's first
// render, rather than after it. Signed out, the sign-in page fetches the next pages when idle.
if (getSession()) {
  const path = currentPath();
  // App sends a signed-in `/` and `/signin` to the projects.
  preloadRoute(path === '/' || path === '/signin' ? '/projects' : path);
}
applyTheme(currentTheme());
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
