import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';

const generateKeyPairAsync = promisify(generateKeyPair);

/** Key pair specs of data key pairs (AWS's KeyPairSpec names). */
export const dataKeyPairSpecs = {
  RSA_2048: { type: 'rsa', modulusLength: 2048 },
  RSA_3072: { type: 'rsa', modulusLength: 3072 },
  RSA_4096: { type: 'rsa', modulusLength: 4096 },
  ECC_NIST_P256: { type: 'ec', namedCurve: 'P-256' },
  ECC_NIST_P384: { type: 'ec', namedCurve: 'P-384' },
  ECC_NIST_P521: { type: 'ec', namedCurve: 'P-521' },
  ECC_SECG_P256K1: { type: 'ec', namedCurve: 'secp256k1' },
  ECC_NIST_EDWARDS25519: { type: 'ed25519' },
} as const;

/** A data key pair spec name. */
export type DataKeyPairSpec = keyof typeof dataKeyPairSpecs;

/**
 * A fresh key pair for the caller's own use (GenerateDataKeyPair): the private key as PKCS#8 DER (the
 * caller encrypts it under a KMS key and zeroes it) and the public key as SubjectPublicKeyInfo DER.
 * Generated off the event loop, in libuv's thread pool.
 */
export async function generateDataKeyPair(
  spec: DataKeyPairSpec,
): Promise<{ privateKey: Buffer; publicKey: Buffer }> {
  const params = dataKeyPairSpecs[spec];
  const pair =
    params.type === 'rsa'
      ? await generateKeyPairAsync('rsa', { modulusLength: params.modulusLength })
      : params.type === 'ed25519'
        ? await generateKeyPairAsync('ed25519')
        : await generateKeyPairAsync('ec', { namedCurve: params.namedCurve });
  return {
    privateKey: pair.privateKey.export({ format: 'der', type: 'pkcs8' }),
    publicKey: pair.publicKey.export({ format: 'der', type: 'spki' }),
  };
}
