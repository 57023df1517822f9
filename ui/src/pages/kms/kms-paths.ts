/**
 * Console and API paths of KMS resources, and links from resource names (`projects/…/keys/…`,
 * `projects/…/instances/…/secrets/…`) to their console pages. Every segment is encoded.
 */
import { seg } from '../../api/client.ts';
import { path } from '../../router.tsx';

/** Where a key ring or key lives. */
export interface KeyRingPlace {
  readonly projectId: string;
  readonly regionId: string;
  readonly keyRingId: string;
}

/** A key's place. */
export interface KeyPlace extends KeyRingPlace {
  readonly keyId: string;
}

/** `/v2/projects/{p}/regions/{r}` */
export function regionApi(projectId: string, regionId: string): string {
  return `/v2/projects/${seg(projectId)}/regions/${seg(regionId)}`;
}

/** `/v2/…/keyrings/{k}` */
export function keyRingApi(p: KeyRingPlace): string {
  return `${regionApi(p.projectId, p.regionId)}/keyrings/${seg(p.keyRingId)}`;
}

/** `/v2/…/keys/{key}` */
export function keyApi(p: KeyPlace): string {
  return `${keyRingApi(p)}/keys/${seg(p.keyId)}`;
}

/** The console page of a key ring. */
export function keyRingPage(p: KeyRingPlace): string {
  return path('projects', p.projectId, 'regions', p.regionId, 'keyrings', p.keyRingId);
}

/** The console page of a key. */
export function keyPage(p: KeyPlace): string {
  return path('projects', p.projectId, 'regions', p.regionId, 'keyrings', p.keyRingId, 'keys', p.keyId);
}

/**
 * The console page of a secret, instance or key resource name, or null for another kind. A secret's
 * name holds its path percent-encoded as one segment (`…/secrets/app%2Fdb`).
 */
export function resourcePage(name: string): string | null {
  try {
    return pageOf(name);
  } catch {
    // A name seg() refuses (a "." or ".." segment) gets no link: it is shown as text.
    return null;
  }
}

function pageOf(name: string): string | null {
  const secret = /^projects\/([^/]+)\/regions\/([^/]+)\/instances\/([^/]+)\/secrets\/([^/]+)$/.exec(name);
  if (secret) {
    let secretPath: string;
    try {
      secretPath = decodeURIComponent(secret[4]!);
    } catch {
      return null;
    }
    return path(
      'projects',
      secret[1]!,
      'regions',
      secret[2]!,
      'instances',
      secret[3]!,
      'secrets',
      secretPath,
    );
  }
  const instance = /^projects\/([^/]+)\/regions\/([^/]+)\/instances\/([^/]+)$/.exec(name);
  if (instance) return path('projects', instance[1]!, 'regions', instance[2]!, 'instances', instance[3]!);
  const key = /^projects\/([^/]+)\/regions\/([^/]+)\/keyrings\/([^/]+)\/keys\/([^/]+)$/.exec(name);
  if (key) return keyPage({ projectId: key[1]!, regionId: key[2]!, keyRingId: key[3]!, keyId: key[4]! });
  return null;
}

/** A date-time for people (the browser's locale), or a dash. */
export function when(timestamp: string | null | undefined): string {
  return timestamp ? new Date(timestamp).toLocaleString() : '—';
}

/** A duration as the API writes it (`"7776000s"`) in days, hours or seconds for people. */
export function period(duration: string): string {
  const seconds = Number(/^(\d+)(?:\.\d+)?s$/.exec(duration)?.[1] ?? NaN);
  if (!Number.isFinite(seconds)) return duration;
  if (seconds > 0 && seconds % 86_400 === 0) return `${seconds / 86_400} day(s)`;
  if (seconds > 0 && seconds % 3600 === 0) return `${seconds / 3600} hour(s)`;
  return `${seconds} s`;
}

/** UTF-8 text to standard base64 (the API's binary fields). */
export function textToBase64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Standard base64 to UTF-8 text; undefined when the bytes are not valid UTF-8. */
export function base64ToText(b64: string): string | undefined {
  const binary = atob(b64);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
