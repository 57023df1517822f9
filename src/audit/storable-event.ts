import type { AuditEvent } from './audit-types.ts';

const storable = (text: string | undefined) =>
  text === undefined || (!text.includes('\u0000') && text.isWellFormed());

/**
 * Text as every engine stores it and reads it back unchanged: a NUL becomes `%00` (as it was in the
 * URL it came from; PostgreSQL refuses NUL in text) and an unpaired surrogate U+FFFD (which the
 * drivers write anyway; hashing the surrogate would break the chain's verification on read-back).
 */
function storableText(text: string): string {
  return text.replaceAll('\u0000', '%00').toWellFormed();
}

function storableField(text: string | undefined): string | undefined {
  return text === undefined ? undefined : storableText(text);
}

/**
 * The event as it can be stored: the same object when every text field is storable (the usual case,
 * checked without allocating). A resource or principal made from a URL segment such as `%00` would
 * otherwise fail its whole batch on PostgreSQL: every request of the batch would answer
 * `audit_unavailable` and the chain would restart. `details` is stored as JSON, which escapes both.
 */
export function storableEvent(event: AuditEvent): AuditEvent {
  if (
    storable(event.resource) &&
    storable(event.principal) &&
    storable(event.action) &&
    storable(event.requestId) &&
    storable(event.onBehalfOf) &&
    storable(event.projectId) &&
    storable(event.sourceIp) &&
    storable(event.userAgent)
  )
    return event;
  const { onBehalfOf, projectId, sourceIp, userAgent } = event;
  return {
    ...event,
    resource: storableText(event.resource),
    principal: storableText(event.principal),
    action: storableText(event.action),
    requestId: storableText(event.requestId),
    ...(onBehalfOf !== undefined ? { onBehalfOf: storableField(onBehalfOf)! } : {}),
    ...(projectId !== undefined ? { projectId: storableField(projectId)! } : {}),
    ...(sourceIp !== undefined ? { sourceIp: storableField(sourceIp)! } : {}),
    ...(userAgent !== undefined ? { userAgent: storableField(userAgent)! } : {}),
  };
}

/** `events` with each made storable: the same array when nothing needed a change. */
export function storableEvents(events: readonly AuditEvent[]): readonly AuditEvent[] {
  for (let i = 0; i < events.length; i++) {
    if (storableEvent(events[i]!) !== events[i]) return events.map(storableEvent);
  }
  return events;
}
