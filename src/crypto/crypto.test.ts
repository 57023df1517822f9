import assert from 'node:assert/strict';
import { createSecretKey } from 'node:crypto';
import { describe, test } from 'node:test';
import { aeadDecrypt, aeadEncrypt } from './aead.ts';
import {
  EnvelopeError,
  type EnvelopeKey,
  openEnvelope,
  readEnvelopeHeader,
  sealEnvelope,
} from './envelope.ts';
import { formatToken, parseToken } from './token-format.ts';

const hex = (s: string) => Buffer.from(s, 'hex');

describe('AEAD known-answer vectors', () => {
  test('AES-256-GCM matches NIST GCM test case 16 (with AAD)', () => {
    const key = createSecretKey(hex('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308'));
    const nonce = hex('cafebabefacedbaddecaf888');
    const plaintext = hex(
      'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
    );
    const aad = hex('feedfacedeadbeeffeedfacedeadbeefabaddad2');
    const expected =
      '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662' +
      '76fc6ece0f4e1768cddf8853bb2d551b';
    const sealed = aeadEncrypt('aes-256-gcm', key, nonce, plaintext, aad);
    assert.equal(sealed.toString('hex'), expected);
    assert.deepEqual(aeadDecrypt('aes-256-gcm', key, nonce, sealed, aad), plaintext);
  });

  test('ChaCha20-Poly1305 matches RFC 8439 §2.8.2', () => {
    const key = createSecretKey(hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f'));
    const nonce = hex('070000004041424344454647');
    const aad = hex('50515253c0c1c2c3c4c5c6c7');
    const plaintext = Buffer.from(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    );
    const sealed = aeadEncrypt('chacha20-poly1305', key, nonce, plaintext, aad);
    assert.equal(sealed.subarray(-16).toString('hex'), '1ae10b594f09e26a7e902ecbd0600691');
    assert.equal(sealed.subarray(0, 16).toString('hex'), 'd31a8d34648e60db7b86afbc53ef7ec2');
  });
});

describe('envelope', () => {
  const key: EnvelopeKey = {
    id: '0b8f6c1e-2d4a-4c8e-9f0a-1b2c3d4e5f60',
    version: 7,
    algorithm: 'aes-256-gcm',
    material: createSecretKey(Buffer.alloc(32, 1)),
  };
  const context = Buffer.from('projects/p/secrets/db#1');

  for (const algorithm of ['aes-256-gcm', 'aes-128-gcm', 'chacha20-poly1305'] as const) {
    test(`${algorithm} round-trips and names its key and version`, () => {
      const k = {
        ...key,
        algorithm,
        material: createSecretKey(Buffer.alloc(algorithm === 'aes-128-gcm' ? 16 : 32, 2)),
      };
      const sealed = sealEnvelope(k, Buffer.from('s3cr3t'), context);
      assert.deepEqual(readEnvelopeHeader(sealed), {
        formatVersion: 1,
        algorithm,
        keyId: key.id,
        keyVersion: 7,
      });
      assert.equal(openEnvelope(k, sealed, context).toString(), 's3cr3t');
    });
  }

  test('two encryptions of the same plaintext differ (fresh nonce)', () => {
    const a = sealEnvelope(key, Buffer.from('x'), context);
    const b = sealEnvelope(key, Buffer.from('x'), context);
    assert.notDeepEqual(a, b);
  });

  test('a flipped byte anywhere fails to decrypt with the generic error', () => {
    const sealed = sealEnvelope(key, Buffer.from('hello world'), context);
    for (let i = 0; i < sealed.length; i++) {
      const tampered = Buffer.from(sealed);
      tampered[i]! ^= 0x01;
      assert.throws(() => openEnvelope(key, tampered, context), EnvelopeError, `byte ${i}`);
    }
  });

  test('a ciphertext moved to another record (other context) fails', () => {
    const sealed = sealEnvelope(key, Buffer.from('hello'), context);
    assert.throws(() => openEnvelope(key, sealed, Buffer.from('projects/p/secrets/db#2')), EnvelopeError);
  });

  test('the wrong key version or key id fails', () => {
    const sealed = sealEnvelope(key, Buffer.from('hello'), context);
    assert.throws(() => openEnvelope({ ...key, version: 8 }, sealed, context), EnvelopeError);
    assert.throws(
      () => openEnvelope({ ...key, id: '1b8f6c1e-2d4a-4c8e-9f0a-1b2c3d4e5f60' }, sealed, context),
      EnvelopeError,
    );
    assert.throws(
      () => openEnvelope({ ...key, material: createSecretKey(Buffer.alloc(32, 9)) }, sealed, context),
      EnvelopeError,
    );
  });

  test('truncated and garbage inputs are refused, never crash', () => {
    assert.throws(() => readEnvelopeHeader(Buffer.alloc(10)), EnvelopeError);
    assert.throws(() => openEnvelope(key, Buffer.alloc(60, 0xff), context), EnvelopeError);
    const sealed = sealEnvelope(key, Buffer.from('hello'), context);
    assert.throws(() => openEnvelope(key, sealed.subarray(0, sealed.length - 1), context), EnvelopeError);
  });
});

describe('token format', () => {
  test('tokens carry the cfr_ prefix and a checksum that parses', () => {
    const token = formatToken();
    assert.match(token, /^cfr_[0-9A-Za-z]{46}$/);
    assert.deepEqual(parseToken(token), { token });
  });

  test('a typo, a truncation or a foreign string fails the checksum', () => {
    const token = formatToken();
    const last = token.at(-1) === 'a' ? 'b' : 'a';
    assert.equal(parseToken(token.slice(0, -1) + last), undefined);
    assert.equal(parseToken(token.slice(0, -1)), undefined);
    assert.equal(parseToken('ghp_0123456789'), undefined);
    assert.equal(parseToken(''), undefined);
  });
});
