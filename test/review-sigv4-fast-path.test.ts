import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  canonicalRequestOf,
  libraryCanonicalRequest,
  type ReceivedRequest,
  type SigV4Authorization,
} from '../src/aws/sigv4.ts';

// Security review of the SigV4 fast path (src/aws/sigv4.ts): for `POST /` the canonical request is
// written directly. It must equal the library's for every header value node can hand over (read as
// latin1: any byte but NUL/CR/LF, tabs, runs of spaces, U+00A0, U+0085), or a request could verify
// with a canonical form other than the one its signer hashed.

const alphabet = [
  ' ',
  '  ',
  '\t',
  'a',
  'Z',
  '0',
  ',',
  ';',
  ':',
  '=',
  '/',
  '%',
  '"',
  '\u00a0',
  '\u0085',
  '\u00ff',
];
const names = ['content-type', 'host', 'x-amz-date', 'x-amz-target', 'x-amz-content-sha256', 'x-custom'];

/** A small deterministic generator (xorshift32): the same cases on every run. */
function generator(seed: number): () => number {
  let state = seed;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
}

test('the fast canonical request of POST / equals the library’s for odd header values', () => {
  const random = generator(0x5eed);
  for (let i = 0; i < 5000; i++) {
    const signed = names.filter(() => random() < 0.6).sort();
    if (!signed.includes('host')) signed.unshift('host');
    signed.sort();
    const headers: Record<string, string> = {};
    for (const name of signed) {
      let value = '';
      const length = Math.floor(random() * 7);
      for (let j = 0; j < length; j++) value += alphabet[Math.floor(random() * alphabet.length)];
      headers[name] = value;
    }
    const auth = {
      signedHeaders: signed,
      signedHeaderList: signed.join(';'),
    } as unknown as SigV4Authorization;
    const request: ReceivedRequest = { method: 'POST', url: '/', headers, body: Buffer.alloc(0) };
    assert.equal(
      canonicalRequestOf(auth, request, 'e3b0'),
      libraryCanonicalRequest(auth, request, 'e3b0'),
      JSON.stringify(headers),
    );
  }
});

test('a signed header missing, repeated or out of order leaves the fast path for the library’s form', () => {
  const request: ReceivedRequest = {
    method: 'POST',
    url: '/',
    headers: { host: 'h', 'x-amz-date': '20260101T000000Z' },
    body: Buffer.alloc(0),
  };
  for (const list of ['host;x-amz-date;x-amz-target', 'host;host;x-amz-date', 'x-amz-date;host']) {
    const signed = list.split(';');
    const auth = { signedHeaders: signed, signedHeaderList: list } as unknown as SigV4Authorization;
    assert.equal(canonicalRequestOf(auth, request, 'e3b0'), libraryCanonicalRequest(auth, request, 'e3b0'));
  }
});
