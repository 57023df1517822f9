import type { AuditEvent } from './audit-types.ts';

/**
 * Most UTF-8 bytes of an indexed text field. PostgreSQL refuses a b-tree entry over 2704 bytes, and
 * `audit_events` indexes (project_id, resource, time, id), (project_id, principal, …): a resource
 * built from URL segments (2048 characters each) could exceed it. A real resource is at most ~1.7
 * KB (a 512-character path URL-encoded), so only a made-up one is ever cut.
 */
const maxFieldBytes = 2000;
const maxProjectIdBytes = 100;
// Below this many UTF-16 units a string cannot exceed the byte bound (3 bytes per unit at most).
const surelyShort = (text: string, maxBytes: number) => text.length * 3 <= maxBytes;

/** Within `maxBytes` (a length test, no scan, for all but long text). */
function short(text: string | undefined, maxBytes: number): boolean {
  return text === undefined || surelyShort(text, maxBytes) || Buffer.byteLength(text, 'utf8') <= maxBytes;
}

/** Storable as it is: no NUL, no unpaired surrogate, within `maxBytes`. */
function clean(text: string | undefined, maxBytes: number): boolean {
  return text === undefined || (short(text, maxBytes) && !text.includes('\u0000') && text.isWellFormed());
}

/**
 * Text as every engine stores it and reads it back unchanged, within `maxBytes`: a NUL becomes `%00`
 * (as it was in the URL it came from; PostgreSQL refuses NUL in text), an unpaired surrogate U+FFFD
 * (which the drivers write anyway; hashing the surrogate would break the chain's verification on
 * read-back), and a longer text is cut, ending in `…`.
 */
function storableText(text: string, maxBytes: number): string {
  const clean = text.replaceAll('\u0000', '%00').toWellFormed();
  if (surelyShort(clean, maxBytes) || Buffer.byteLength(clean, 'utf8') <= maxBytes) return clean;
  // Cut by bytes; a character cut in two decodes as U+FFFD (3 bytes), hence the margin.
  return `${Buffer.from(clean, 'utf8')
    .subarray(0, maxBytes - 8)
    .toString('utf8')}…`;
}

/**
 * The event as it can be stored: the same object when every text field fits (the usual case, checked
 * without allocating). A resource made from a URL segment such as `%00`, or from very long segments,
 * would otherwise fail its whole batch on PostgreSQL: every request of the batch would answer
 * `audit_unavailable` and the chain would restart. `details` is stored as JSON (escaped, not indexed).
 */
export function storableEvent(event: AuditEvent): AuditEvent {
  if (
    // Caller input reaches the resource and project id (URL segments, AWS names); the other fields
    // come from tokens, routes or checked headers, so their length is all there is to check.
    clean(event.resource, maxFieldBytes) &&
    clean(event.projectId, maxProjectIdBytes) &&
    short(event.action, maxFieldBytes) &&
    short(event.principal, maxFieldBytes) &&
    short(event.onBehalfOf, maxFieldBytes) &&
    short(event.requestId, maxFieldBytes)
  )
    return event;
  const { onBehalfOf, projectId, sourceIp, userAgent } = event;
  return {
    ...event,
    resource: storableText(event.resource, maxFieldBytes),
    principal: storableText(event.principal, maxFieldBytes),
    action: storableText(event.action, maxFieldBytes),
    requestId: storableText(event.requestId, maxFieldBytes),
    ...(onBehalfOf !== undefined ? { onBehalfOf: storableText(onBehalfOf, maxFieldBytes) } : {}),
    ...(projectId !== undefined ? { projectId: storableText(projectId, maxProjectIdBytes) } : {}),
    ...(sourceIp !== undefined ? { sourceIp: storableText(sourceIp, maxFieldBytes) } : {}),
    ...(userAgent !== undefined ? { userAgent: storableText(userAgent, maxFieldBytes) } : {}),
  };
}

/** `events` with each made storable: the same array when nothing needed a change. */
export function storableEvents(events: readonly AuditEvent[]): readonly AuditEvent[] {
  for (let i = 0; i < events.length; i++) {
    if (storableEvent(events[i]!) !== events[i]) return events.map(storableEvent);
  }
  return events;
}
