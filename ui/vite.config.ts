// Vite builds the console (ui/) into dist/ui, served by the Coffer server at /ui/ (src/http/console-routes.ts).
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

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
        codeSplitting: {
          groups: [
            { name: 'react', test: /node_modules[\\/](react|react-dom|scheduler)[\\/]/, priority: 3 },
            { name: 'shell', tags: ['$initial'], priority: 2 },
            {
              name: 'pages-common',
              test: /ui[\\/]src[\\/](components[\\/]|api[\\/]|pages[\\/].*-paths\.ts$)/,
              priority: 1,
            },
          ],
        },
      },
    },
  },
  server: {
    // `npx vite --config ui/vite.config.ts` during development: API calls go to a local Coffer.
    proxy: { '/v2': 'http://127.0.0.1:8270' },
  },
});
