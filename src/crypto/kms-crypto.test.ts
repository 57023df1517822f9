import assert from 'node:assert/strict';
import { constants, createPublicKey, createSecretKey, hkdfSync, randomUUID, sign, verify } from 'node:crypto';
import { describe, test } from 'node:test';
import { aeadDecrypt } from './aead.ts';
import { EnvelopeError } from './envelope.ts';
import {
  digestBytes,
  digestOf,
  generateMaterial,
  kmsAlgorithms,
  loadMaterial,
  macWith,
  publicKeyOf,
  rsaOaepDecrypt,
  rsaOaepEncrypt,
  signWith,
  verifyMacWith,
  verifyWith,
} from './kms-algorithms.ts';
import {
  type KmsSymmetricKey,
  kmsDecrypt,
  kmsEncrypt,
  kmsHeaderBytes,
  readKmsHeader,
} from './kms-ciphertext.ts';

const symmetric = (algorithm: 'aes-256-gcm' | 'aes-128-gcm' | 'chacha20-poly1305'): KmsSymmetricKey => ({
  keyId: randomUUID(),
  version: 3,
  algorithm,
  material: createSecretKey(Buffer.alloc(algorithm === 'aes-128-gcm' ? 16 : 32, 5)),
});

describe('KMS symmetric ciphertexts (format 2, HKDF-derived key per encryption)', () => {
  for (const algorithm of ['aes-256-gcm', 'aes-128-gcm', 'chacha20-poly1305'] as const) {
    test(`${algorithm}: round trip with and without AAD, header names key and version`, () => {
      const key = symmetric(algorithm);
      const ct = kmsEncrypt(key, Buffer.from('hello'), Buffer.from('ctx'));
      assert.deepEqual(readKmsHeader(ct), { algorithm, keyId: key.keyId, keyVersion: 3 });
      assert.equal(kmsDecrypt(key, ct, Buffer.from('ctx')).toString(), 'hello');
      assert.throws(() => kmsDecrypt(key, ct, Buffer.alloc(0)), EnvelopeError);
      const noAad = kmsEncrypt(key, Buffer.alloc(0), Buffer.alloc(0));
      assert.equal(kmsDecrypt(key, noAad, Buffer.alloc(0)).length, 0);
    });
  }

  test('the per-message key is HKDF-SHA256(material, salt from the ciphertext, key id and version)', () => {
    const key = symmetric('aes-256-gcm');
    const ct = kmsEncrypt(key, Buffer.from('known answer'), Buffer.alloc(0));
    const salt = ct.subarray(22, 38);
    const info = Buffer.from(`coffer/kms/v2/${key.keyId}/${key.version}`);
    const derived = createSecretKey(Buffer.from(hkdfSync('sha256', Buffer.alloc(32, 5), salt, info, 32)));
    const plain = aeadDecrypt(
      'aes-256-gcm',
      derived,
      ct.subarray(38, kmsHeaderBytes),
      ct.subarray(kmsHeaderBytes),
      ct.subarray(0, kmsHeaderBytes),
    );
    assert.equal(plain.toString(), 'known answer');
  });

  test('every encryption uses a fresh salt, so no derived key is used twice', () => {
    const key = symmetric('aes-256-gcm');
    const salts = new Set<string>();
    for (let i = 0; i < 2000; i++)
      salts.add(kmsEncrypt(key, Buffer.from('x'), Buffer.alloc(0)).subarray(22, 38).toString('hex'));
    assert.equal(salts.size, 2000);
  });

  test('tampering with any byte (salt, nonce, header, body) or using another version fails', () => {
    const key = symmetric('aes-256-gcm');
    const ct = kmsEncrypt(key, Buffer.from('secret'), Buffer.alloc(0));
    for (let i = 0; i < ct.length; i++) {
      const bad = Buffer.from(ct);
      bad[i]! ^= 0x80;
      assert.throws(() => kmsDecrypt(key, bad, Buffer.alloc(0)), EnvelopeError, `byte ${i}`);
    }
    assert.throws(() => kmsDecrypt({ ...key, version: 4 }, ct, Buffer.alloc(0)), EnvelopeError);
  });
});

describe('asymmetric and HMAC keys', () => {
  const message = Buffer.from('the quick brown fox');

  for (const algorithm of ['rsa-2048', 'ecdsa-p256', 'ecdsa-p384', 'ed25519'] as const) {
    test(`${algorithm}: signatures over messages verify with node:crypto and the exported PEM`, async () => {
      const generated = await generateMaterial(algorithm);
      const privateKey = loadMaterial(algorithm, generated.material);
      const publicKey = createPublicKey(generated.publicKeyPem!);
      const signature = signWith(algorithm, privateKey, { data: message });
      const nodeOk =
        algorithm === 'rsa-2048'
          ? verify(
              'sha256',
              message,
              { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
              signature,
            )
          : algorithm === 'ed25519'
            ? verify(null, message, publicKey, signature)
            : verify(algorithm === 'ecdsa-p256' ? 'sha256' : 'sha384', message, publicKey, signature);
      assert.ok(nodeOk);
      assert.ok(verifyWith(algorithm, publicKeyOf(privateKey), { data: message }, signature));
      assert.ok(!verifyWith(algorithm, publicKey, { data: Buffer.from('other') }, signature));
    });
  }

  for (const algorithm of ['rsa-2048', 'ecdsa-p256', 'ecdsa-p384'] as const) {
    test(`${algorithm}: a signature over a digest verifies as a signature over the message, both ways`, async () => {
      const generated = await generateMaterial(algorithm);
      const privateKey = loadMaterial(algorithm, generated.material);
      const publicKey = createPublicKey(generated.publicKeyPem!);
      const hash = algorithm === 'ecdsa-p384' ? 'sha384' : 'sha256';
      const digest = digestOf(hash, message);
      assert.equal(digest.length, digestBytes(algorithm));
      const fromDigest = signWith(algorithm, privateKey, { digest });
      const rsa =
        algorithm === 'rsa-2048' ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : {};
      assert.ok(
        verify(hash, message, { key: publicKey, ...rsa }, fromDigest),
        'node verifies our digest signature',
      );
      const fromNode = sign(hash, message, { key: privateKey, ...rsa });
      assert.ok(
        verifyWith(algorithm, publicKey, { digest }, fromNode),
        'we verify node’s message signature by digest',
      );
      const wrong = Buffer.from(digest);
      wrong[0]! ^= 1;
      assert.ok(!verifyWith(algorithm, publicKey, { digest: wrong }, fromDigest));
      const flipped = Buffer.from(fromDigest);
      flipped[flipped.length - 1]! ^= 1;
      assert.ok(!verifyWith(algorithm, publicKey, { digest }, flipped));
    });
  }

  test('ed25519 refuses to sign a digest', async () => {
    const generated = await generateMaterial('ed25519');
    assert.throws(() =>
      signWith('ed25519', loadMaterial('ed25519', generated.material), { digest: Buffer.alloc(32) }),
    );
  });

  test('RSA-OAEP round trip with the public key', async () => {
    const generated = await generateMaterial('rsa-2048');
    const privateKey = loadMaterial('rsa-2048', generated.material);
    const ct = rsaOaepEncrypt(createPublicKey(generated.publicKeyPem!), Buffer.from('wrapped'));
    assert.equal(rsaOaepDecrypt(privateKey, ct).toString(), 'wrapped');
  });

  test('HMAC: RFC 4231 test case 2 for hmac-sha256, constant-time verification', () => {
    const key = createSecretKey(Buffer.from('Jefe'));
    const mac = macWith('hmac-sha256', key, Buffer.from('what do ya want for nothing?'));
    assert.equal(mac.toString('hex'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
    assert.ok(verifyMacWith('hmac-sha256', key, Buffer.from('what do ya want for nothing?'), mac));
    assert.ok(!verifyMacWith('hmac-sha256', key, Buffer.from('what do ya want for nothing!'), mac));
    assert.ok(
      !verifyMacWith('hmac-sha256', key, Buffer.from('what do ya want for nothing?'), mac.subarray(1)),
    );
  });

  test('every algorithm generates loadable material', async () => {
    for (const algorithm of kmsAlgorithms.filter((a) => a !== 'rsa-4096' && a !== 'rsa-3072')) {
      const generated = await generateMaterial(algorithm);
      assert.ok(loadMaterial(algorithm, generated.material));
    }
  });
});
