// Vite builds the console (ui/) into dist/ui, served by the Coffer server at /ui/ (src/http/console-routes.ts).
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/** The entry chunk: React and everything in ui/src but the page areas' own files (their *-paths.ts are shared). */
const firstPage =
  /node_modules[\\/](react|react-dom|scheduler)[\\/]|ui[\\/]src[\\/](?!pages[\\/](projects|secrets|kms|iam|audit)[\\/](?![^\\/]*-paths\.ts$))/;

export default defineConfig({
  root,
  base: '/ui/',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    // The strict CSP (script-src 'self') forbids inline script: no module-preload polyfill, which
    // Vite would otherwise inline into index.html; every browser the console supports has modulepreload.
    modulePreload: { polyfill: false },
    // No source maps in the served build, and every asset a file (no data: URIs for scripts).
    sourcemap: false,
    assetsInlineLimit: 0,
    target: 'es2022',
    rolldownOptions: {
      output: {
        // Two kinds of chunk: the entry, which is all the first page loads (React, the sign-in page,
        // layout, router, session, API client, and the components and helpers the page areas
        // share), and one chunk per page area (ui/src/areas.ts) and for the KMS playground, fetched
        // when first needed. Without the group, the shared components would be a dozen chunks of a
        // few hundred bytes; with React in a chunk of its own, a cold load would make one request
        // more. On the loaded 2-core machine, each request costs the browser about as much CPU as
        // the JavaScript it saves (docs/console.md, Performance).
        codeSplitting: {
          groups: [{ name: 'index', test: firstPage }],
        },
      },
    },
  },
  server: {
    // `npx vite --config ui/vite.config.ts` during development: API calls go to a local Coffer.
    proxy: { '/v2': 'http://127.0.0.1:8270' },
  },
});
