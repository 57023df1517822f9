import type { Static, TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { App } from '../../app/app.ts';
import {
  CiphertextView,
  DataKeyView,
  DecryptBody,
  EncryptBody,
  GenerateDataKeyBody,
  MacBody,
  MacView,
  PlaintextView,
  RewrapBody,
  SignatureView,
  SignBody,
  ValidView,
  VerifyBody,
  VerifyMacBody,
} from '../../core/api/kms-schemas.ts';
import { errors } from '../../core/errors.ts';
import type { Permission } from '../../iam/permissions.ts';
import { fromBase64, fromSchemaBase64 } from '../base64-field.ts';
import { KeyParams, keyName, keyRef, kmsGuard } from './kms-route-shared.ts';

function signInput(body: { data?: string | undefined; digest?: string | undefined }) {
  if ((body.data === undefined) === (body.digest === undefined))
    throw errors.invalid('Give exactly one of data and digest.');
  return body.data !== undefined
    ? { data: fromBase64(body.data, 'data') }
    : { digest: fromBase64(body.digest!, 'digest') };
}

function noted<T extends { keyVersion: number }>(request: FastifyRequest, result: T): T {
  request.auditDetails = { keyVersion: result.keyVersion };
  return result;
}

/** KMS crypto operations on a key (SPEC §5): encrypt, decrypt, data keys, rewrap, sign, verify, MAC. */
export function registerKmsCryptoRoutes(server: FastifyInstance, app: App, base: string): void {
  const crypto = <B extends TSchema>(
    path: string,
    permission: Permission,
    body: B,
    response: TSchema,
    summary: string,
    handler: (request: FastifyRequest<{ Params: KeyParams; Body: Static<B> }>) => Promise<unknown>,
    noStore = false,
  ) =>
    server.post<{ Params: KeyParams; Body: Static<B> }>(
      `${base}/:keyRingId/keys/:keyId/${path}`,
      {
        config: { ...kmsGuard(permission, keyName), noStore, changesNothing: true },
        schema: { tags: ['kms'], summary, params: KeyParams, body, response: { 200: response } },
      },
      handler,
    );

  const b64 = (value: Buffer) => value.toString('base64');
  const noAad = Buffer.alloc(0);
  const aadOf = (aad: string | undefined) => (aad === undefined ? noAad : fromSchemaBase64(aad, 'aad'));

  crypto('encrypt', 'kms.encrypt', EncryptBody, CiphertextView, 'Encrypt', async (request) => {
    const { plaintext, aad, keyVersion } = request.body;
    const result = noted(
      request,
      await app.kmsCrypto.encrypt(
        keyRef(request.params),
        fromSchemaBase64(plaintext, 'plaintext'),
        aadOf(aad),
        keyVersion,
      ),
    );
    return { ciphertext: b64(result.ciphertext), keyVersion: result.keyVersion };
  });
  crypto(
    'decrypt',
    'kms.decrypt',
    DecryptBody,
    PlaintextView,
    'Decrypt',
    async (request) => {
      const { ciphertext, aad, keyVersion } = request.body;
      const result = noted(
        request,
        await app.kmsCrypto.decrypt(
          keyRef(request.params),
          fromSchemaBase64(ciphertext, 'ciphertext'),
          aadOf(aad),
          keyVersion,
        ),
      );
      return { plaintext: b64(result.plaintext), keyVersion: result.keyVersion };
    },
    true,
  );
  crypto(
    'generate-data-key',
    'kms.generate_data_key',
    GenerateDataKeyBody,
    DataKeyView,
    'Generate a data key',
    async (request) => {
      const { numberOfBytes, includePlaintext, aad } = request.body;
      const result = noted(
        request,
        await app.kmsCrypto.generateDataKey(
          keyRef(request.params),
          numberOfBytes,
          includePlaintext ?? true,
          aadOf(aad),
        ),
      );
      return {
        ciphertext: b64(result.ciphertext),
        keyVersion: result.keyVersion,
        ...(result.plaintext ? { plaintext: b64(result.plaintext) } : {}),
      };
    },
    true,
  );
  crypto(
    'rewrap',
    'kms.rewrap',
    RewrapBody,
    CiphertextView,
    'Re-encrypt under the primary version',
    async (request) => {
      const result = noted(
        request,
        await app.kmsCrypto.rewrap(
          keyRef(request.params),
          fromBase64(request.body.ciphertext, 'ciphertext'),
          aadOf(request.body.aad),
        ),
      );
      return { ciphertext: b64(result.ciphertext), keyVersion: result.keyVersion };
    },
  );
  crypto('sign', 'kms.sign', SignBody, SignatureView, 'Sign data or a digest', async (request) => {
    const result = noted(
      request,
      await app.kmsCrypto.sign(keyRef(request.params), signInput(request.body), request.body.keyVersion),
    );
    return { signature: b64(result.signature), keyVersion: result.keyVersion };
  });
  crypto('verify', 'kms.verify', VerifyBody, ValidView, 'Verify a signature', async (request) =>
    noted(
      request,
      await app.kmsCrypto.verify(
        keyRef(request.params),
        signInput(request.body),
        fromBase64(request.body.signature, 'signature'),
        request.body.keyVersion,
      ),
    ),
  );
  crypto('mac', 'kms.mac', MacBody, MacView, 'Compute an HMAC', async (request) => {
    const result = noted(
      request,
      await app.kmsCrypto.mac(
        keyRef(request.params),
        fromBase64(request.body.data, 'data'),
        request.body.keyVersion,
      ),
    );
    return { mac: b64(result.mac), keyVersion: result.keyVersion };
  });
  crypto('verify-mac', 'kms.verify_mac', VerifyMacBody, ValidView, 'Verify an HMAC', async (request) =>
    noted(
      request,
      await app.kmsCrypto.verifyMac(
        keyRef(request.params),
        fromBase64(request.body.data, 'data'),
        fromBase64(request.body.mac, 'mac'),
        request.body.keyVersion,
      ),
    ),
  );
}
