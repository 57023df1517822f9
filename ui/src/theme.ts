/**
 * Light and dark themes: the system's preference (prefers-color-scheme) unless the user picked one
 * with the toggle; the choice (not a secret) is remembered in localStorage.
 */
export type Theme = 'light' | 'dark';
const key = 'coffer.theme';

function stored(): Theme | null {
  try {
    // Only the theme choice (never a token) is kept in localStorage.
    // eslint-disable-next-line no-restricted-globals
    const value = localStorage.getItem(key);
    return value === 'light' || value === 'dark' ? value : null;
  } catch {
    return null;
  }
}

/** The theme in effect. */
export function currentTheme(): Theme {
  return stored() ?? (window.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
}

/** Applies a theme to the document (and remembers it when the user chose it). */
export function applyTheme(theme: Theme, remember = false): void {
  document.documentElement.dataset.theme = theme;
  if (remember)
    try {
      // eslint-disable-next-line no-restricted-globals
      localStorage.setItem(key, theme);
    } catch {
      // not remembered
    }
}
