/**
 * The console's two URL rules, kept free of DOM use so tests run them in Node
 * (test/console-url-safety.test.ts):
 * - `seg`: every id, name or secret path goes into an API or console URL as ONE encoded segment.
 *   A segment that is "." or ".." (or their %2e spellings) would be folded away by the browser's
 *   URL parser and aim the request at another resource, so it is refused instead.
 * - `isConsolePath`: where the console may navigate: its own paths only (no `//host`, `/\host`,
 *   scheme or control character), so no address in a link or parameter redirects off the console.
 */

/** Encodes one URL path segment; throws for "." and ".." (which URL parsing would remove). */
export function seg(value: string): string {
  if (value === '' || value === '.' || value === '..')
    throw new Error(`"${value}" cannot name a resource in a URL.`);
  return encodeURIComponent(value);
}

/** Whether `target` is a path inside the console (`/…`), never another origin. */
export function isConsolePath(target: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /^\/(?![/\\])[^\\\u0000-\u001f\u007f]*$/.test(target) && !/^\/[a-z][a-z0-9+.-]*:/i.test(target);
}
