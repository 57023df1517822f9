import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuditEvent } from './audit-types.ts';
import { storableEvent, storableEvents } from './storable-event.ts';

const event: AuditEvent = {
  id: 'e1',
  timeMs: 1,
  requestId: 'r1',
  action: 'secrets.secrets.list',
  principal: 'user:a@example.com',
  resource: 'projects/p/regions/local/instances/i',
  result: 'denied',
  status: 403,
  details: { note: 'a\u0000b' },
};

test('an event of storable text is passed through as the same object, and so is its list', () => {
  assert.equal(storableEvent(event), event);
  const list = [event, event];
  assert.equal(storableEvents(list), list);
});

test('a NUL becomes %00 and an unpaired surrogate U+FFFD, in every text field; details stay as given', () => {
  const bad: AuditEvent = {
    ...event,
    resource: 'projects/\u0000x/regions/local',
    principal: 'user:\ud800@example.com',
    projectId: '\u0000x',
  };
  const fixed = storableEvent(bad);
  assert.equal(fixed.resource, 'projects/%00x/regions/local');
  assert.equal(fixed.principal, 'user:\ufffd@example.com');
  assert.equal(fixed.projectId, '%00x');
  assert.deepEqual(fixed.details, event.details);
  assert.deepEqual(storableEvents([event, bad])[1], fixed);
  // What is hashed is what a UTF-8 round trip (both drivers) gives back.
  assert.equal(Buffer.from(fixed.principal, 'utf8').toString('utf8'), fixed.principal);
});

test('a text longer than an index entry allows is cut (by UTF-8 bytes, ending in …); a real resource is kept', () => {
  const path = encodeURIComponent('a/'.repeat(256)); // a 512-character path, URL-encoded
  const real = { ...event, resource: `projects/${'p'.repeat(36)}/regions/local/instances/i/secrets/${path}` };
  assert.equal(storableEvent(real), real);
  const long = storableEvent({ ...event, resource: 'é'.repeat(5000), projectId: 'x'.repeat(5000) });
  assert.ok(Buffer.byteLength(long.resource, 'utf8') <= 2000);
  assert.ok(long.resource.endsWith('…') && long.resource.startsWith('éé'));
  assert.ok(long.resource.isWellFormed());
  assert.ok(Buffer.byteLength(long.projectId!, 'utf8') <= 100);
});
