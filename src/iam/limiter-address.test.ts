import assert from 'node:assert/strict';
import { test } from 'node:test';
import { limiterAddress } from './limiter-address.ts';

test('IPv6 addresses count as their /64, written one way however they were written', () => {
  assert.equal(limiterAddress('2001:db8:1:2::1'), '2001:db8:1:2::/64');
  assert.equal(limiterAddress('2001:0db8:0001:0002:ffff:1:2:3'), '2001:db8:1:2::/64');
  assert.equal(limiterAddress('2001:db8::'), '2001:db8:0:0::/64');
  assert.equal(limiterAddress('::1'), '0:0:0:0::/64');
  assert.equal(limiterAddress('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(limiterAddress('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
  assert.notEqual(limiterAddress('2001:db8:1:2::1'), limiterAddress('2001:db8:1:3::1'));
});

test('IPv4 addresses (and IPv4-mapped IPv6 ones) count one by one', () => {
  assert.equal(limiterAddress('192.0.2.1'), '192.0.2.1');
  assert.equal(limiterAddress('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(limiterAddress('::ffff:c000:201'), '192.0.2.1');
  assert.notEqual(limiterAddress('192.0.2.1'), limiterAddress('192.0.2.2'));
  assert.equal(limiterAddress('not an address'), 'not an address');
});
