import assert from 'node:assert/strict';
import { constants, createHash, createPrivateKey, createPublicKey, publicEncrypt, verify } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateGrantCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteAliasCommand,
  DeriveSharedSecretCommand,
  DescribeCustomKeyStoresCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  DisableKeyRotationCommand,
  EnableKeyCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyPairCommand,
  GenerateDataKeyPairWithoutPlaintextCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GenerateMacCommand,
  GenerateRandomCommand,
  GetKeyPolicyCommand,
  GetKeyRotationStatusCommand,
  GetParametersForImportCommand,
  GetPublicKeyCommand,
  KMSClient,
  ListAliasesCommand,
  ListGrantsCommand,
  ListKeyPoliciesCommand,
  ListKeyRotationsCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  ListRetirableGrantsCommand,
  PutKeyPolicyCommand,
  ReEncryptCommand,
  ReplicateKeyCommand,
  RetireGrantCommand,
  RevokeGrantCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateAliasCommand,
  UpdateKeyDescriptionCommand,
  VerifyCommand,
  VerifyMacCommand,
} from '@aws-sdk/client-kms';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ensureAwsManagedKey } from '../src/kms/kms-alias-service.ts';
import { call, startTestNode, type TestNode } from './support/test-node.ts';

const account = '123456789012';
const region = 'us-east-1';
const utf8 = (text: string) => new TextEncoder().encode(text);
const text = (bytes: Uint8Array | undefined) => Buffer.from(bytes!).toString('utf8');

/** The KMS operations of the AWS face through the official SDK against a real listening node (SQLite). */
describe('AWS KMS face (official SDK, real listener)', () => {
  let node: TestNode;
  let kms: KMSClient;
  let projectId: string;
  const clients: KMSClient[] = [];
  const client = (accessKeyId: string, secretAccessKey: string, inRegion = region) => {
    const made = new KMSClient({
      endpoint: node.url,
      region: inRegion,
      credentials: { accessKeyId, secretAccessKey },
      maxAttempts: 1,
    });
    clients.push(made);
    return made;
  };
  const api = (method: string, path: string, body?: unknown) =>
    call(node.url, method, path, { token: node.adminToken!, ...(body !== undefined ? { body } : {}) });
  /** A service account of `project` with an AWS access key and `roles` on the project. */
  const accountWith = async (project: string, name: string, roles: string[], inRegion = region) => {
    const created = await api('POST', `/v2/projects/${project}/service-accounts`, { name });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const email = created.body.email as string;
    for (const role of roles) {
      const bound = await api('POST', `/v2/projects/${project}/iam-policy:add-binding`, {
        role,
        member: `serviceAccount:${email}`,
      });
      assert.equal(bound.status, 200, JSON.stringify(bound.body));
    }
    const key = await api('POST', `/v2/projects/${project}/service-accounts/${email}/access-keys`);
    assert.equal(key.status, 201, JSON.stringify(key.body));
    return { email, kms: client(key.body.accessKeyId, key.body.secretAccessKey, inRegion) };
  };
  const fails = async (promise: Promise<unknown>, name: string) => {
    await assert.rejects(promise, (err: Error) => {
      assert.equal(err.name, name, err.message);
      return true;
    });
  };
  const symmetricKey = async (description = '') =>
    (await kms.send(new CreateKeyCommand({ Description: description }))).KeyMetadata!.KeyId!;

  before(async () => {
    node = await startTestNode({
      env: { COFFER_AWS_TEST_MODE: 'true', COFFER_AWS_REGIONS: 'auto' },
    });
    kms = client('testing', 'testing');
    await kms.send(new ListKeysCommand({}));
    const projects = await api('GET', '/v2/projects');
    projectId = projects.body.items.find((p: { awsAccountId: string }) => p.awsAccountId === account).id;
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await node?.destroy();
  });

  test('CreateKey, DescribeKey (id, ARN, alias), ListKeys and UpdateKeyDescription answer as AWS', async () => {
    const created = await kms.send(
      new CreateKeyCommand({ Description: 'first', Tags: [{ TagKey: 'team', TagValue: 'a' }] }),
    );
    const meta = created.KeyMetadata!;
    assert.match(meta.KeyId!, /^[0-9a-f-]{36}$/);
    assert.equal(meta.Arn, `arn:aws:kms:${region}:${account}:key/${meta.KeyId}`);
    assert.equal(meta.AWSAccountId, account);
    assert.equal(meta.KeySpec, 'SYMMETRIC_DEFAULT');
    assert.equal(meta.CustomerMasterKeySpec, 'SYMMETRIC_DEFAULT');
    assert.equal(meta.KeyUsage, 'ENCRYPT_DECRYPT');
    assert.equal(meta.KeyState, 'Enabled');
    assert.equal(meta.Enabled, true);
    assert.equal(meta.Origin, 'AWS_KMS');
    assert.equal(meta.KeyManager, 'CUSTOMER');
    assert.equal(meta.MultiRegion, false);
    assert.deepEqual(meta.EncryptionAlgorithms, ['SYMMETRIC_DEFAULT']);
    assert.ok(meta.CreationDate instanceof Date);
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/first', TargetKeyId: meta.KeyId }));
    for (const id of [meta.KeyId, meta.Arn, 'alias/first', `arn:aws:kms:${region}:${account}:alias/first`]) {
      const described = await kms.send(new DescribeKeyCommand({ KeyId: id }));
      assert.equal(described.KeyMetadata!.KeyId, meta.KeyId);
    }
    await kms.send(new UpdateKeyDescriptionCommand({ KeyId: meta.KeyId, Description: 'renamed' }));
    assert.equal(
      (await kms.send(new DescribeKeyCommand({ KeyId: meta.KeyId }))).KeyMetadata!.Description,
      'renamed',
    );
    const listed = await kms.send(new ListKeysCommand({ Limit: 1000 }));
    assert.ok(listed.Keys!.some((k) => k.KeyId === meta.KeyId && k.KeyArn === meta.Arn));
    await symmetricKey('second');
    const first = await kms.send(new ListKeysCommand({ Limit: 1 }));
    assert.equal(first.Keys!.length, 1);
    assert.equal(first.Truncated, true);
    const second = await kms.send(new ListKeysCommand({ Limit: 1, Marker: first.NextMarker }));
    assert.notEqual(second.Keys![0]!.KeyId, first.Keys![0]!.KeyId);
    await fails(
      kms.send(new DescribeKeyCommand({ KeyId: '00000000-0000-4000-8000-000000000000' })),
      'NotFoundException',
    );
    await fails(
      kms.send(new CreateKeyCommand({ KeySpec: 'ECC_SECG_P256K1', KeyUsage: 'SIGN_VERIFY' })),
      'UnsupportedOperationException',
    );
    await fails(kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256' })), 'ValidationException');
  });

  test('Encrypt/Decrypt: context is AAD, the blob names its key, wrong context/key/garbled blobs fail', async () => {
    const keyId = await symmetricKey();
    const other = await symmetricKey();
    const context = { purpose: 'test', tenant: '7' };
    const encrypted = await kms.send(
      new EncryptCommand({ KeyId: keyId, Plaintext: utf8('hello'), EncryptionContext: context }),
    );
    assert.equal(encrypted.KeyId, `arn:aws:kms:${region}:${account}:key/${keyId}`);
    assert.equal(encrypted.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    const blob = encrypted.CiphertextBlob!;
    const reordered = { tenant: '7', purpose: 'test' };
    const decrypted = await kms.send(
      new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: reordered }),
    );
    assert.equal(text(decrypted.Plaintext), 'hello');
    assert.equal(decrypted.KeyId, encrypted.KeyId);
    await fails(
      kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { purpose: 'other' } })),
      'InvalidCiphertextException',
    );
    await fails(kms.send(new DecryptCommand({ CiphertextBlob: blob })), 'InvalidCiphertextException');
    await fails(
      kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context, KeyId: other })),
      'IncorrectKeyException',
    );
    const garbled = Buffer.from(blob);
    garbled[garbled.length - 1]! ^= 1;
    await fails(
      kms.send(new DecryptCommand({ CiphertextBlob: garbled, EncryptionContext: context })),
      'InvalidCiphertextException',
    );
    await fails(
      kms.send(new DecryptCommand({ CiphertextBlob: utf8('not a ciphertext') })),
      'InvalidCiphertextException',
    );
    // The same account in another region, and another project, cannot use the blob.
    await fails(
      client('testing', 'testing', 'eu-west-1').send(
        new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context }),
      ),
      'InvalidCiphertextException',
    );
    const project2 = (await api('POST', '/v2/projects', { displayName: 'other' })).body.id as string;
    const stranger = await accountWith(project2, 'kms-owner2', ['roles/owner']);
    await fails(
      stranger.kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context })),
      'InvalidCiphertextException',
    );
    await fails(stranger.kms.send(new DescribeKeyCommand({ KeyId: keyId })), 'NotFoundException');
    await fails(stranger.kms.send(new DescribeKeyCommand({ KeyId: encrypted.KeyId })), 'NotFoundException');
    // Aliases are per project: the same name elsewhere names another key, or nothing.
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/shared-name', TargetKeyId: keyId }));
    await fails(
      stranger.kms.send(new DescribeKeyCommand({ KeyId: 'alias/shared-name' })),
      'NotFoundException',
    );
    await fails(
      stranger.kms.send(
        new EncryptCommand({
          KeyId: `arn:aws:kms:${region}:${account}:alias/shared-name`,
          Plaintext: utf8('x'),
        }),
      ),
      'NotFoundException',
    );
    const theirs = (await stranger.kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await stranger.kms.send(new CreateAliasCommand({ AliasName: 'alias/shared-name', TargetKeyId: theirs }));
    await fails(
      stranger.kms.send(new CreateAliasCommand({ AliasName: 'alias/other', TargetKeyId: keyId })),
      'NotFoundException',
    );
    assert.equal(
      (await kms.send(new DescribeKeyCommand({ KeyId: 'alias/shared-name' }))).KeyMetadata!.KeyId,
      keyId,
    );
    // ReEncrypt under another key and context, then decrypt there.
    const re = await kms.send(
      new ReEncryptCommand({
        CiphertextBlob: blob,
        SourceEncryptionContext: context,
        DestinationKeyId: other,
        DestinationEncryptionContext: { b: '1' },
      }),
    );
    assert.equal(re.SourceKeyId, encrypted.KeyId);
    assert.equal(re.KeyId, `arn:aws:kms:${region}:${account}:key/${other}`);
    assert.equal(
      text(
        (
          await kms.send(
            new DecryptCommand({ CiphertextBlob: re.CiphertextBlob, EncryptionContext: { b: '1' } }),
          )
        ).Plaintext,
      ),
      'hello',
    );
  });

  test('data keys, data key pairs and random bytes; WithoutPlaintext answers carry no plaintext', async () => {
    const keyId = await symmetricKey();
    const dataKey = await kms.send(
      new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: { a: 'b' } }),
    );
    assert.equal(dataKey.Plaintext!.length, 32);
    const opened = await kms.send(
      new DecryptCommand({ CiphertextBlob: dataKey.CiphertextBlob, EncryptionContext: { a: 'b' } }),
    );
    assert.deepEqual(Buffer.from(opened.Plaintext!), Buffer.from(dataKey.Plaintext!));
    const bare = await kms.send(
      new GenerateDataKeyWithoutPlaintextCommand({ KeyId: keyId, NumberOfBytes: 16 }),
    );
    assert.equal((bare as { Plaintext?: unknown }).Plaintext, undefined);
    assert.equal(
      (await kms.send(new DecryptCommand({ CiphertextBlob: bare.CiphertextBlob }))).Plaintext!.length,
      16,
    );
    await fails(kms.send(new GenerateDataKeyCommand({ KeyId: keyId })), 'ValidationException');
    const pair = await kms.send(
      new GenerateDataKeyPairCommand({ KeyId: keyId, KeyPairSpec: 'ECC_NIST_P256' }),
    );
    assert.equal(pair.KeyPairSpec, 'ECC_NIST_P256');
    const privateKey = createPrivateKey({
      key: Buffer.from(pair.PrivateKeyPlaintext!),
      format: 'der',
      type: 'pkcs8',
    });
    const publicDer = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    assert.deepEqual(Buffer.from(pair.PublicKey!), publicDer);
    const sealed = await kms.send(new DecryptCommand({ CiphertextBlob: pair.PrivateKeyCiphertextBlob }));
    assert.deepEqual(Buffer.from(sealed.Plaintext!), Buffer.from(pair.PrivateKeyPlaintext!));
    const barePair = await kms.send(
      new GenerateDataKeyPairWithoutPlaintextCommand({ KeyId: keyId, KeyPairSpec: 'RSA_2048' }),
    );
    assert.equal((barePair as { PrivateKeyPlaintext?: unknown }).PrivateKeyPlaintext, undefined);
    assert.ok(barePair.PublicKey!.length > 200);
    assert.equal((await kms.send(new GenerateRandomCommand({ NumberOfBytes: 48 }))).Plaintext!.length, 48);
    await fails(kms.send(new GenerateRandomCommand({ NumberOfBytes: 2000 })), 'ValidationException');
  });

  test('Sign/Verify (RSA-PSS and ECDSA, RAW and DIGEST), GetPublicKey DER, RSA-OAEP encryption, HMAC', async () => {
    const rsa = (await kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' })))
      .KeyMetadata!;
    assert.deepEqual(rsa.SigningAlgorithms, [
      'RSASSA_PKCS1_V1_5_SHA_256',
      'RSASSA_PKCS1_V1_5_SHA_384',
      'RSASSA_PKCS1_V1_5_SHA_512',
      'RSASSA_PSS_SHA_256',
      'RSASSA_PSS_SHA_384',
      'RSASSA_PSS_SHA_512',
    ]);
    const message = utf8('sign me');
    const signed = await kms.send(
      new SignCommand({ KeyId: rsa.KeyId, Message: message, SigningAlgorithm: 'RSASSA_PSS_SHA_256' }),
    );
    const publicKey = await kms.send(new GetPublicKeyCommand({ KeyId: rsa.KeyId }));
    assert.equal(publicKey.KeySpec, 'RSA_2048');
    const spki = createPublicKey({ key: Buffer.from(publicKey.PublicKey!), format: 'der', type: 'spki' });
    assert.ok(
      verify(
        'sha256',
        message,
        { key: spki, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
        signed.Signature!,
      ),
    );
    const verified = await kms.send(
      new VerifyCommand({
        KeyId: rsa.KeyId,
        Message: message,
        Signature: signed.Signature,
        SigningAlgorithm: 'RSASSA_PSS_SHA_256',
      }),
    );
    assert.equal(verified.SignatureValid, true);
    await fails(
      kms.send(
        new VerifyCommand({
          KeyId: rsa.KeyId,
          Message: utf8('other'),
          Signature: signed.Signature,
          SigningAlgorithm: 'RSASSA_PSS_SHA_256',
        }),
      ),
      'KMSInvalidSignatureException',
    );
    const pkcs1 = await kms.send(
      new SignCommand({ KeyId: rsa.KeyId, Message: message, SigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_256' }),
    );
    assert.ok(
      verify('sha256', message, { key: spki, padding: constants.RSA_PKCS1_PADDING }, pkcs1.Signature!),
    );
    const digest512 = createHash('sha512').update(message).digest();
    const pkcs1Digest = await kms.send(
      new SignCommand({
        KeyId: rsa.KeyId,
        Message: digest512,
        MessageType: 'DIGEST',
        SigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_512',
      }),
    );
    assert.ok(
      verify('sha512', message, { key: spki, padding: constants.RSA_PKCS1_PADDING }, pkcs1Digest.Signature!),
    );
    assert.equal(
      (
        await kms.send(
          new VerifyCommand({
            KeyId: rsa.KeyId,
            Message: message,
            Signature: pkcs1Digest.Signature,
            SigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_512',
          }),
        )
      ).SignatureValid,
      true,
    );
    const pss384 = await kms.send(
      new SignCommand({ KeyId: rsa.KeyId, Message: message, SigningAlgorithm: 'RSASSA_PSS_SHA_384' }),
    );
    assert.ok(
      verify(
        'sha384',
        message,
        { key: spki, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 },
        pss384.Signature!,
      ),
    );
    const digest384 = createHash('sha384').update(message).digest();
    const pss384Digest = await kms.send(
      new SignCommand({
        KeyId: rsa.KeyId,
        Message: digest384,
        MessageType: 'DIGEST',
        SigningAlgorithm: 'RSASSA_PSS_SHA_384',
      }),
    );
    assert.ok(
      verify(
        'sha384',
        message,
        { key: spki, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 },
        pss384Digest.Signature!,
      ),
    );
    await fails(
      kms.send(
        new SignCommand({
          KeyId: rsa.KeyId,
          Message: Buffer.alloc(32),
          MessageType: 'DIGEST',
          SigningAlgorithm: 'RSASSA_PSS_SHA_384',
        }),
      ),
      'ValidationException',
    );
    await fails(
      kms.send(new SignCommand({ KeyId: rsa.KeyId, Message: message, SigningAlgorithm: 'ECDSA_SHA_256' })),
      'InvalidKeyUsageException',
    );

    const ec = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' })))
      .KeyMetadata!;
    const digest = Buffer.alloc(32, 7);
    const ecSigned = await kms.send(
      new SignCommand({
        KeyId: ec.KeyId,
        Message: digest,
        MessageType: 'DIGEST',
        SigningAlgorithm: 'ECDSA_SHA_256',
      }),
    );
    assert.equal(Buffer.from(ecSigned.Signature!)[0], 0x30, 'an ECDSA signature is DER');
    assert.equal(
      (
        await kms.send(
          new VerifyCommand({
            KeyId: ec.KeyId,
            Message: digest,
            MessageType: 'DIGEST',
            Signature: ecSigned.Signature,
            SigningAlgorithm: 'ECDSA_SHA_256',
          }),
        )
      ).SignatureValid,
      true,
    );
    const ecRaw = await kms.send(
      new SignCommand({ KeyId: ec.KeyId, Message: message, SigningAlgorithm: 'ECDSA_SHA_256' }),
    );
    const ecPublic = createPublicKey({
      key: Buffer.from((await kms.send(new GetPublicKeyCommand({ KeyId: ec.KeyId }))).PublicKey!),
      format: 'der',
      type: 'spki',
    });
    assert.ok(verify('sha256', message, { key: ecPublic, dsaEncoding: 'der' }, ecRaw.Signature!));
    await fails(
      kms.send(new EncryptCommand({ KeyId: ec.KeyId, Plaintext: message })),
      'InvalidKeyUsageException',
    );

    const oaep = (await kms.send(new CreateKeyCommand({ KeySpec: 'RSA_3072', KeyUsage: 'ENCRYPT_DECRYPT' })))
      .KeyMetadata!;
    assert.deepEqual(oaep.EncryptionAlgorithms, ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256']);
    const oaepPublic = createPublicKey({
      key: Buffer.from((await kms.send(new GetPublicKeyCommand({ KeyId: oaep.KeyId }))).PublicKey!),
      format: 'der',
      type: 'spki',
    });
    const offline = publicEncrypt(
      { key: oaepPublic, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      utf8('offline'),
    );
    const opened = await kms.send(
      new DecryptCommand({
        KeyId: oaep.KeyId,
        CiphertextBlob: offline,
        EncryptionAlgorithm: 'RSAES_OAEP_SHA_256',
      }),
    );
    assert.equal(text(opened.Plaintext), 'offline');
    const sha1 = publicEncrypt(
      { key: oaepPublic, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      utf8('sha1'),
    );
    const sha1Opened = await kms.send(
      new DecryptCommand({
        KeyId: oaep.KeyId,
        CiphertextBlob: sha1,
        EncryptionAlgorithm: 'RSAES_OAEP_SHA_1',
      }),
    );
    assert.equal(text(sha1Opened.Plaintext), 'sha1');
    await fails(
      kms.send(
        new DecryptCommand({
          KeyId: oaep.KeyId,
          CiphertextBlob: sha1,
          EncryptionAlgorithm: 'RSAES_OAEP_SHA_256',
        }),
      ),
      'InvalidCiphertextException',
    );
    await fails(
      kms.send(new DecryptCommand({ CiphertextBlob: sha1, EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' })),
      'InvalidCiphertextException',
    );
    const online = await kms.send(
      new EncryptCommand({
        KeyId: oaep.KeyId,
        Plaintext: utf8('online'),
        EncryptionAlgorithm: 'RSAES_OAEP_SHA_256',
      }),
    );
    assert.equal(
      text(
        (
          await kms.send(
            new DecryptCommand({
              KeyId: oaep.KeyId,
              CiphertextBlob: online.CiphertextBlob,
              EncryptionAlgorithm: 'RSAES_OAEP_SHA_256',
            }),
          )
        ).Plaintext,
      ),
      'online',
    );

    const hmac = (
      await kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }))
    ).KeyMetadata!;
    assert.deepEqual(hmac.MacAlgorithms, ['HMAC_SHA_256']);
    const mac = await kms.send(
      new GenerateMacCommand({ KeyId: hmac.KeyId, Message: message, MacAlgorithm: 'HMAC_SHA_256' }),
    );
    assert.equal(mac.Mac!.length, 32);
    assert.equal(
      (
        await kms.send(
          new VerifyMacCommand({
            KeyId: hmac.KeyId,
            Message: message,
            Mac: mac.Mac,
            MacAlgorithm: 'HMAC_SHA_256',
          }),
        )
      ).MacValid,
      true,
    );
    await fails(
      kms.send(
        new VerifyMacCommand({
          KeyId: hmac.KeyId,
          Message: utf8('x'),
          Mac: mac.Mac,
          MacAlgorithm: 'HMAC_SHA_256',
        }),
      ),
      'KMSInvalidMacException',
    );
    await fails(kms.send(new GetPublicKeyCommand({ KeyId: hmac.KeyId })), 'UnsupportedOperationException');
  });

  test('key states: disabled → DisabledException, pending deletion → KMSInvalidStateException, cancel → Disabled', async () => {
    const keyId = await symmetricKey();
    await kms.send(new DisableKeyCommand({ KeyId: keyId }));
    const disabled = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;
    assert.equal(disabled.KeyState, 'Disabled');
    assert.equal(disabled.Enabled, false);
    await fails(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: utf8('x') })), 'DisabledException');
    await kms.send(new EnableKeyCommand({ KeyId: keyId }));
    const blob = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: utf8('x') }))).CiphertextBlob;
    const scheduled = await kms.send(
      new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }),
    );
    assert.equal(scheduled.KeyState, 'PendingDeletion');
    assert.equal(scheduled.PendingWindowInDays, 7);
    assert.ok(scheduled.DeletionDate!.getTime() > Date.now() + 6 * 86_400_000);
    assert.equal(
      (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState,
      'PendingDeletion',
    );
    await fails(kms.send(new DecryptCommand({ CiphertextBlob: blob })), 'KMSInvalidStateException');
    await fails(
      kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 3 })),
      'ValidationException',
    );
    const canceled = await kms.send(new CancelKeyDeletionCommand({ KeyId: keyId }));
    assert.equal(canceled.KeyId, `arn:aws:kms:${region}:${account}:key/${keyId}`);
    assert.equal(
      (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState,
      'Disabled',
    );
  });

  test('a key secrets depend on is not disabled or scheduled for deletion here (Coffer keeps its force rail)', async () => {
    const keyId = await symmetricKey('bound');
    const sm = new SecretsManagerClient({
      endpoint: node.url,
      region,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      maxAttempts: 1,
    });
    try {
      await sm.send(new CreateSecretCommand({ Name: 'bound/db', KmsKeyId: keyId, SecretString: 'v' }));
    } finally {
      sm.destroy();
    }
    for (const command of [
      new DisableKeyCommand({ KeyId: keyId }),
      new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }),
    ])
      await assert.rejects(kms.send(command), (err: Error) => {
        assert.equal(err.name, 'KMSInvalidStateException', err.message);
        assert.match(err.message, /1 secrets or instances depend on this key.*\?force=true/);
        return true;
      });
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState, 'Enabled');
  });

  test('aliases: create, reserved and duplicate names refused, update, list, delete', async () => {
    const a = await symmetricKey();
    const b = await symmetricKey();
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/app/main', TargetKeyId: a }));
    await fails(
      kms.send(new CreateAliasCommand({ AliasName: 'alias/app/main', TargetKeyId: b })),
      'AlreadyExistsException',
    );
    await fails(
      kms.send(new CreateAliasCommand({ AliasName: 'alias/aws/mine', TargetKeyId: b })),
      'NotAuthorizedException',
    );
    await fails(
      kms.send(new CreateAliasCommand({ AliasName: 'app', TargetKeyId: b })),
      'ValidationException',
    );
    const sealed = await kms.send(
      new EncryptCommand({ KeyId: 'alias/app/main', Plaintext: utf8('via alias') }),
    );
    assert.equal(sealed.KeyId, `arn:aws:kms:${region}:${account}:key/${a}`);
    await kms.send(new UpdateAliasCommand({ AliasName: 'alias/app/main', TargetKeyId: b }));
    const listed = await kms.send(new ListAliasesCommand({ KeyId: b }));
    assert.deepEqual(
      listed.Aliases!.map((x) => [x.AliasName, x.TargetKeyId, x.AliasArn]),
      [['alias/app/main', b, `arn:aws:kms:${region}:${account}:alias/app/main`]],
    );
    assert.ok(
      (await kms.send(new ListAliasesCommand({}))).Aliases!.some((x) => x.AliasName === 'alias/app/main'),
    );
    await kms.send(new DeleteAliasCommand({ AliasName: 'alias/app/main' }));
    await fails(kms.send(new DescribeKeyCommand({ KeyId: 'alias/app/main' })), 'NotFoundException');
    await fails(kms.send(new DeleteAliasCommand({ AliasName: 'alias/app/main' })), 'NotFoundException');
  });

  test('tags, key policy, rotation', async () => {
    const keyId = await symmetricKey();
    await kms.send(
      new TagResourceCommand({
        KeyId: keyId,
        Tags: [
          { TagKey: 'env', TagValue: 'prod' },
          { TagKey: 'team', TagValue: 'x' },
        ],
      }),
    );
    await kms.send(new UntagResourceCommand({ KeyId: keyId, TagKeys: ['team'] }));
    assert.deepEqual((await kms.send(new ListResourceTagsCommand({ KeyId: keyId }))).Tags, [
      { TagKey: 'env', TagValue: 'prod' },
    ]);
    await fails(
      kms.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: 'aws:x', TagValue: 'y' }] })),
      'TagException',
    );
    const policy = await kms.send(new GetKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default' }));
    assert.equal(JSON.parse(policy.Policy!).Statement[0].Principal.AWS, `arn:aws:iam::${account}:root`);
    const mine = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: '*', Action: 'kms:*', Resource: '*' }],
    });
    await kms.send(new PutKeyPolicyCommand({ KeyId: keyId, PolicyName: 'default', Policy: mine }));
    assert.equal((await kms.send(new GetKeyPolicyCommand({ KeyId: keyId }))).Policy, mine);
    assert.deepEqual((await kms.send(new ListKeyPoliciesCommand({ KeyId: keyId }))).PolicyNames, ['default']);
    await fails(
      kms.send(new PutKeyPolicyCommand({ KeyId: keyId, Policy: '{not json' })),
      'MalformedPolicyDocumentException',
    );

    assert.equal(
      (await kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId }))).KeyRotationEnabled,
      false,
    );
    await kms.send(new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: 180 }));
    const status = await kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId }));
    assert.equal(status.KeyRotationEnabled, true);
    assert.equal(status.RotationPeriodInDays, 180);
    assert.ok(status.NextRotationDate!.getTime() > Date.now() + 179 * 86_400_000);
    await fails(
      kms.send(new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: 30 })),
      'ValidationException',
    );
    const blob = (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: utf8('before') })))
      .CiphertextBlob;
    await kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId }));
    const rotations = await kms.send(new ListKeyRotationsCommand({ KeyId: keyId }));
    assert.equal(rotations.Rotations!.length, 1);
    assert.equal(rotations.Rotations![0]!.KeyId, keyId);
    assert.equal(text((await kms.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext), 'before');
    await kms.send(new DisableKeyRotationCommand({ KeyId: keyId }));
    assert.equal(
      (await kms.send(new GetKeyRotationStatusCommand({ KeyId: keyId }))).KeyRotationEnabled,
      false,
    );
  });

  test('the AWS managed key (alias/aws/secretsmanager) is usable but not changeable; alias/aws/ names are reserved', async () => {
    const managed = await ensureAwsManagedKey(node.app, projectId, region, 'secretsmanager');
    const meta = (await kms.send(new DescribeKeyCommand({ KeyId: 'alias/aws/secretsmanager' }))).KeyMetadata!;
    assert.equal(meta.KeyId, managed.id);
    assert.equal(meta.KeyManager, 'AWS');
    const sealed = await kms.send(
      new EncryptCommand({ KeyId: 'alias/aws/secretsmanager', Plaintext: utf8('m') }),
    );
    assert.equal(
      text((await kms.send(new DecryptCommand({ CiphertextBlob: sealed.CiphertextBlob }))).Plaintext),
      'm',
    );
    await fails(kms.send(new DisableKeyCommand({ KeyId: managed.id })), 'AccessDeniedException');
    await fails(kms.send(new ScheduleKeyDeletionCommand({ KeyId: managed.id })), 'AccessDeniedException');
    await fails(
      kms.send(
        new CreateGrantCommand({
          KeyId: managed.id,
          GranteePrincipal: 'user:a@example.com',
          Operations: ['Decrypt'],
        }),
      ),
      'AccessDeniedException',
    );
    await fails(
      kms.send(new DeleteAliasCommand({ AliasName: 'alias/aws/secretsmanager' })),
      'NotAuthorizedException',
    );
    await fails(
      kms.send(
        new UpdateAliasCommand({ AliasName: 'alias/aws/secretsmanager', TargetKeyId: await symmetricKey() }),
      ),
      'NotAuthorizedException',
    );
  });

  test('permissions: denied → AccessDeniedException, the same for missing and existing keys', async () => {
    const keyId = await symmetricKey();
    const nobody = await accountWith(projectId, 'kms-nobody', []);
    await fails(nobody.kms.send(new DescribeKeyCommand({ KeyId: keyId })), 'AccessDeniedException');
    await fails(
      nobody.kms.send(new DescribeKeyCommand({ KeyId: '00000000-0000-4000-8000-000000000000' })),
      'AccessDeniedException',
    );
    await fails(nobody.kms.send(new DescribeKeyCommand({ KeyId: 'alias/none' })), 'AccessDeniedException');
    await fails(
      nobody.kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: utf8('x') })),
      'AccessDeniedException',
    );
    await fails(
      nobody.kms.send(new DecryptCommand({ CiphertextBlob: utf8('garbage') })),
      'AccessDeniedException',
    );
    await fails(nobody.kms.send(new ListKeysCommand({})), 'AccessDeniedException');
    await fails(nobody.kms.send(new CreateKeyCommand({})), 'AccessDeniedException');
    const viewer = await accountWith(projectId, 'kms-viewer1', ['roles/kms.viewer']);
    assert.equal((await viewer.kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyId, keyId);
    await fails(
      viewer.kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: utf8('x') })),
      'AccessDeniedException',
    );
    await fails(
      viewer.kms.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: 'a', TagValue: 'b' }] })),
      'AccessDeniedException',
    );
  });

  test('grants are enforced: allow with constraints, then deny once retired or revoked; no escalation', async () => {
    const keyId = await symmetricKey();
    const grantee = await accountWith(projectId, 'kms-grantee', []);
    const granteeArn = `arn:aws:iam::${account}:role/${grantee.email}`;
    await fails(
      grantee.kms.send(
        new EncryptCommand({ KeyId: keyId, Plaintext: utf8('x'), EncryptionContext: { app: 'a' } }),
      ),
      'AccessDeniedException',
    );
    const grant = await kms.send(
      new CreateGrantCommand({
        KeyId: keyId,
        GranteePrincipal: granteeArn,
        RetiringPrincipal: granteeArn,
        Operations: ['Encrypt', 'Decrypt'],
        Constraints: { EncryptionContextSubset: { app: 'a' } },
        Name: 'app-grant',
      }),
    );
    assert.match(grant.GrantId!, /^[0-9a-f]{64}$/);
    const sealed = await grantee.kms.send(
      new EncryptCommand({
        KeyId: keyId,
        Plaintext: utf8('granted'),
        EncryptionContext: { app: 'a', x: '1' },
      }),
    );
    assert.equal(
      text(
        (
          await grantee.kms.send(
            new DecryptCommand({
              CiphertextBlob: sealed.CiphertextBlob,
              EncryptionContext: { app: 'a', x: '1' },
            }),
          )
        ).Plaintext,
      ),
      'granted',
    );
    await fails(
      grantee.kms.send(
        new EncryptCommand({ KeyId: keyId, Plaintext: utf8('x'), EncryptionContext: { app: 'b' } }),
      ),
      'AccessDeniedException',
    );
    await fails(
      grantee.kms.send(
        new GenerateDataKeyCommand({ KeyId: keyId, NumberOfBytes: 16, EncryptionContext: { app: 'a' } }),
      ),
      'AccessDeniedException',
    );
    const listed = await kms.send(new ListGrantsCommand({ KeyId: keyId }));
    assert.equal(listed.Grants!.length, 1);
    assert.deepEqual(listed.Grants![0]!.Operations, ['Encrypt', 'Decrypt']);
    assert.equal(listed.Grants![0]!.GranteePrincipal, granteeArn);
    assert.deepEqual(listed.Grants![0]!.Constraints, { EncryptionContextSubset: { app: 'a' } });
    const retirable = await kms.send(new ListRetirableGrantsCommand({ RetiringPrincipal: granteeArn }));
    assert.deepEqual(
      retirable.Grants!.map((g) => g.GrantId),
      [grant.GrantId],
    );
    // The grantee (its retiring principal) retires it with the token: denied again at once.
    await grantee.kms.send(new RetireGrantCommand({ GrantToken: grant.GrantToken }));
    await fails(
      grantee.kms.send(
        new EncryptCommand({ KeyId: keyId, Plaintext: utf8('x'), EncryptionContext: { app: 'a' } }),
      ),
      'AccessDeniedException',
    );
    const second = await kms.send(
      new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: granteeArn, Operations: ['DescribeKey'] }),
    );
    assert.equal(
      (await grantee.kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyId,
      keyId,
    );
    await kms.send(new RevokeGrantCommand({ KeyId: keyId, GrantId: second.GrantId }));
    await fails(grantee.kms.send(new DescribeKeyCommand({ KeyId: keyId })), 'AccessDeniedException');
    await fails(
      kms.send(new RevokeGrantCommand({ KeyId: keyId, GrantId: second.GrantId })),
      'NotFoundException',
    );
    // A KMS admin (no crypto use) cannot grant a use it does not hold; it can grant DescribeKey.
    const admin = await accountWith(projectId, 'kms-admin1', ['roles/kms.admin']);
    await fails(
      admin.kms.send(
        new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: granteeArn, Operations: ['Decrypt'] }),
      ),
      'AccessDeniedException',
    );
    await admin.kms.send(
      new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: granteeArn, Operations: ['DescribeKey'] }),
    );
    // A grantee cannot retire a grant that neither names it as retiring principal nor gives RetireGrant.
    const third = await kms.send(
      new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: granteeArn, Operations: ['Encrypt'] }),
    );
    await fails(
      grantee.kms.send(new RetireGrantCommand({ KeyId: keyId, GrantId: third.GrantId })),
      'AccessDeniedException',
    );
    // A grantee allowed CreateGrant for Encrypt can pass Encrypt on, never Decrypt.
    await kms.send(
      new CreateGrantCommand({
        KeyId: keyId,
        GranteePrincipal: granteeArn,
        Operations: ['CreateGrant', 'Encrypt'],
      }),
    );
    await fails(
      grantee.kms.send(
        new CreateGrantCommand({ KeyId: keyId, GranteePrincipal: granteeArn, Operations: ['Decrypt'] }),
      ),
      'AccessDeniedException',
    );
    const passed = await grantee.kms.send(
      new CreateGrantCommand({
        KeyId: keyId,
        GranteePrincipal: 'user:someone@example.com',
        Operations: ['Encrypt'],
      }),
    );
    assert.match(passed.GrantId!, /^[0-9a-f]{64}$/);
    // The grant-allowed use is audited as the native event, with the grant's id.
    const events = await api(
      'GET',
      `/v2/projects/${projectId}/audit-events?action=kms.encrypt&principal=${encodeURIComponent(`serviceAccount:${grantee.email}`)}`,
    );
    assert.equal(events.status, 200, JSON.stringify(events.body));
    const granted = events.body.items.find(
      (e: { details?: Record<string, unknown> }) => e.details?.grantId === grant.GrantId,
    );
    assert.ok(granted, JSON.stringify(events.body.items));
    assert.equal(granted.result, 'ok');
    assert.equal(granted.details.api, 'aws');
    assert.equal(granted.details.operation, 'Encrypt');
    // A principal that is no Coffer principal (the account root) may be named; its grant allows nobody.
    const rootGrant = await kms.send(
      new CreateGrantCommand({
        KeyId: keyId,
        GranteePrincipal: `arn:aws:iam::${account}:root`,
        Operations: ['Encrypt'],
      }),
    );
    const rootGrants = await kms.send(new ListGrantsCommand({ KeyId: keyId, GrantId: rootGrant.GrantId }));
    assert.equal(rootGrants.Grants![0]!.GranteePrincipal, `arn:aws:iam::${account}:root`);
    await fails(
      kms.send(
        new CreateGrantCommand({
          KeyId: keyId,
          GranteePrincipal: 'not a principal!',
          Operations: ['Encrypt'],
        }),
      ),
      'ValidationException',
    );
  });

  test('conformance: management operations take a key id or key ARN only; alias names and targets as AWS', async () => {
    const keyId = await symmetricKey();
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/mgmt', TargetKeyId: keyId }));
    const aliasArn = `arn:aws:kms:${region}:${account}:alias/mgmt`;
    for (const send of [
      () => kms.send(new TagResourceCommand({ KeyId: 'alias/mgmt', Tags: [{ TagKey: 'a', TagValue: 'b' }] })),
      () => kms.send(new ListResourceTagsCommand({ KeyId: aliasArn })),
      () => kms.send(new PutKeyPolicyCommand({ KeyId: 'alias/mgmt', Policy: '{"Statement":[]}' })),
      () => kms.send(new EnableKeyRotationCommand({ KeyId: 'alias/mgmt' })),
      () => kms.send(new DisableKeyCommand({ KeyId: 'alias/mgmt' })),
      () => kms.send(new ScheduleKeyDeletionCommand({ KeyId: aliasArn })),
      () => kms.send(new UpdateKeyDescriptionCommand({ KeyId: 'alias/mgmt', Description: 'x' })),
      () => kms.send(new ListAliasesCommand({ KeyId: 'alias/mgmt' })),
      () =>
        kms.send(
          new CreateGrantCommand({
            KeyId: 'alias/mgmt',
            GranteePrincipal: `arn:aws:iam::${account}:role/r`,
            Operations: ['Decrypt'],
          }),
        ),
    ])
      await fails(send(), 'NotFoundException');
    const meta = (await kms.send(new DescribeKeyCommand({ KeyId: 'alias/mgmt' }))).KeyMetadata!;
    assert.deepEqual([meta.KeyId, meta.KeyState], [keyId, 'Enabled']);
    await fails(
      kms.send(new CreateAliasCommand({ AliasName: 'alias/second', TargetKeyId: 'alias/mgmt' })),
      'ValidationException',
    );
    await fails(
      kms.send(new CreateAliasCommand({ AliasName: 'alias/my:alias', TargetKeyId: keyId })),
      'ValidationException',
    );
    await fails(kms.send(new DeleteAliasCommand({ AliasName: 'wrongprefix/mgmt' })), 'ValidationException');
    // Limits are per operation: ListAliases/ListGrants 1–100, ListResourceTags 1–50.
    await fails(kms.send(new ListAliasesCommand({ Limit: 101 })), 'ValidationException');
    await fails(kms.send(new ListGrantsCommand({ KeyId: keyId, Limit: 101 })), 'ValidationException');
    await fails(kms.send(new ListResourceTagsCommand({ KeyId: keyId, Limit: 51 })), 'ValidationException');
  });

  test('conformance: grants to principals Coffer does not know are kept and allow nothing; operations the key lacks are refused', async () => {
    const keyId = await symmetricKey();
    const outsider = await accountWith(projectId, 'kms-outsider', []);
    // A role ARN whose name is not a service account's email, and the account root: stored as given.
    const roleArn = `arn:aws:iam::${account}:role/service-role/kms-outsider`;
    const root = `arn:aws:iam::${account}:root`;
    const grant = await kms.send(
      new CreateGrantCommand({
        KeyId: keyId,
        GranteePrincipal: roleArn,
        RetiringPrincipal: root,
        Operations: ['Encrypt', 'Decrypt'],
        Name: 'outside',
      }),
    );
    const listed = await kms.send(new ListGrantsCommand({ KeyId: keyId, GranteePrincipal: roleArn }));
    assert.deepEqual(
      listed.Grants!.map((g) => [g.GrantId, g.GranteePrincipal, g.RetiringPrincipal, g.Name]),
      [[grant.GrantId, roleArn, root, 'outside']],
    );
    const retirable = await kms.send(new ListRetirableGrantsCommand({ RetiringPrincipal: root }));
    assert.deepEqual(
      retirable.Grants!.map((g) => g.GrantId),
      [grant.GrantId],
    );
    // The grant names no Coffer principal: the service account the role is named after gains nothing.
    await fails(
      outsider.kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: utf8('x') })),
      'AccessDeniedException',
    );
    await kms.send(new RevokeGrantCommand({ KeyId: keyId, GrantId: grant.GrantId }));
    await fails(
      kms.send(
        new CreateGrantCommand({
          KeyId: keyId,
          GranteePrincipal: 'not a principal',
          Operations: ['Decrypt'],
        }),
      ),
      'ValidationException',
    );
    const signing = (
      await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))
    ).KeyMetadata!.KeyId!;
    for (const [key, operations] of [
      [keyId, ['Sign']],
      [keyId, ['GenerateMac']],
      [signing, ['Decrypt']],
      [signing, ['GenerateDataKey']],
    ] as const)
      await fails(
        kms.send(
          new CreateGrantCommand({ KeyId: key, GranteePrincipal: roleArn, Operations: [...operations] }),
        ),
        'ValidationException',
      );
    await kms.send(
      new CreateGrantCommand({
        KeyId: signing,
        GranteePrincipal: roleArn,
        Operations: ['Sign', 'GetPublicKey'],
      }),
    );
    // Keys that do not rotate automatically report rotation off (not an error), as AWS.
    const status = await kms.send(new GetKeyRotationStatusCommand({ KeyId: signing }));
    assert.equal(status.KeyRotationEnabled, false);
  });

  test('conformance: RSASSA_PSS_SHA_512 signs digests, Ed25519 data key pairs, AWS length messages', async () => {
    const rsa = (await kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' })))
      .KeyMetadata!.KeyId!;
    const spki = createPublicKey({
      key: Buffer.from((await kms.send(new GetPublicKeyCommand({ KeyId: rsa }))).PublicKey!),
      format: 'der',
      type: 'spki',
    });
    const message = utf8('pss over a digest');
    const digest = createHash('sha512').update(message).digest();
    const signed = await kms.send(
      new SignCommand({
        KeyId: rsa,
        Message: digest,
        MessageType: 'DIGEST',
        SigningAlgorithm: 'RSASSA_PSS_SHA_512',
      }),
    );
    assert.ok(
      verify(
        'sha512',
        message,
        { key: spki, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 },
        signed.Signature!,
      ),
    );
    const keyId = await symmetricKey();
    const pair = await kms.send(
      new GenerateDataKeyPairCommand({ KeyId: keyId, KeyPairSpec: 'ECC_NIST_EDWARDS25519' }),
    );
    const privateKey = createPrivateKey({
      key: Buffer.from(pair.PrivateKeyPlaintext!),
      format: 'der',
      type: 'pkcs8',
    });
    assert.equal(privateKey.asymmetricKeyType, 'ed25519');
    await fails(
      kms.send(new GenerateDataKeyPairCommand({ KeyId: keyId, KeyPairSpec: 'toString' as never })),
      'ValidationException',
    );
    await assert.rejects(kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: new Uint8Array(4097) })), {
      name: 'ValidationException',
      message:
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096",
    });
  });

  test('conformance: operations of features Coffer lacks answer as AWS does for keys like its own', async () => {
    const keyId = await symmetricKey();
    assert.deepEqual((await kms.send(new DescribeCustomKeyStoresCommand({}))).CustomKeyStores, []);
    await fails(
      kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: 'cks-1234567890abcdef0' })),
      'CustomKeyStoreNotFoundException',
    );
    await fails(
      kms.send(
        new GetParametersForImportCommand({
          KeyId: keyId,
          WrappingAlgorithm: 'RSAES_OAEP_SHA_256',
          WrappingKeySpec: 'RSA_2048',
        }),
      ),
      'UnsupportedOperationException',
    );
    await fails(
      kms.send(
        new ReplicateKeyCommand({
          KeyId: '11111111-2222-3333-4444-555555555555',
          ReplicaRegion: 'us-west-2',
        }),
      ),
      'NotFoundException',
    );
    await fails(
      kms.send(
        new DeriveSharedSecretCommand({ KeyId: keyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: utf8('x') }),
      ),
      'InvalidKeyUsageException',
    );
  });

  test('conformance: DescribeKey of alias/aws/secretsmanager makes the AWS managed key (AWS does so for predefined aliases)', async () => {
    const south = client('testing', 'testing', 'eu-south-1');
    const nobody = await accountWith(projectId, 'kms-nobody-south', [], 'eu-south-1');
    await fails(
      nobody.kms.send(new DescribeKeyCommand({ KeyId: 'alias/aws/secretsmanager' })),
      'AccessDeniedException',
    );
    assert.deepEqual((await south.send(new ListAliasesCommand({}))).Aliases, []);
    await fails(south.send(new DescribeKeyCommand({ KeyId: 'alias/aws/s3' })), 'NotFoundException');
    const meta = (await south.send(new DescribeKeyCommand({ KeyId: 'alias/aws/secretsmanager' })))
      .KeyMetadata!;
    assert.equal(meta.KeyManager, 'AWS');
    assert.equal(meta.Arn, `arn:aws:kms:eu-south-1:${account}:key/${meta.KeyId}`);
    const again = await south.send(
      new DescribeKeyCommand({ KeyId: `arn:aws:kms:eu-south-1:${account}:alias/aws/secretsmanager` }),
    );
    assert.equal(again.KeyMetadata!.KeyId, meta.KeyId);
  });

  test('conformance: a rotation made on demand is listed ON_DEMAND even with automatic rotation on', async () => {
    const keyId = await symmetricKey();
    await kms.send(new EnableKeyRotationCommand({ KeyId: keyId, RotationPeriodInDays: 90 }));
    await kms.send(new RotateKeyOnDemandCommand({ KeyId: keyId }));
    const listed = await kms.send(new ListKeyRotationsCommand({ KeyId: keyId }));
    assert.deepEqual(
      listed.Rotations!.map((r) => [r.KeyId, r.RotationType]),
      [[keyId, 'ON_DEMAND']],
    );
  });

  test('conformance: NotFoundException says what AWS says for a missing key, alias or malformed id', async () => {
    const id = '11111111-2222-3333-4444-555555555555';
    const expectations: [string, string][] = [
      [id, `Key 'arn:aws:kms:${region}:${account}:key/${id}' does not exist`],
      ['alias/nowhere', `Alias arn:aws:kms:${region}:${account}:alias/nowhere is not found.`],
      ['not-a-key-id', "Invalid keyId 'not-a-key-id'"],
      [`arn:aws:kms:ap-southeast-1:${account}:key/${id}`, 'Invalid arn ap-southeast-1'],
    ];
    for (const [keyId, message] of expectations)
      await assert.rejects(kms.send(new DescribeKeyCommand({ KeyId: keyId })), {
        name: 'NotFoundException',
        message,
      });
  });

  test("conformance: AWS's own errors for key usage, digests, MAC algorithms, RSA sizes and a blob of another key", async () => {
    const rejects = (promise: Promise<unknown>, name: string, message: string) =>
      assert.rejects(promise, { name, message });
    const symmetric = await symmetricKey();
    const hmac = (
      await kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }))
    ).KeyMetadata!.KeyId!;
    const ec = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' })))
      .KeyMetadata!.KeyId!;
    const rsa = (await kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'ENCRYPT_DECRYPT' })))
      .KeyMetadata!.KeyId!;
    const arnOf = (id: string) => `arn:aws:kms:${region}:${account}:key/${id}`;
    await rejects(
      kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048' })),
      'ValidationException',
      'You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.',
    );
    await rejects(
      kms.send(
        new VerifyCommand({
          KeyId: symmetric,
          Message: utf8('m'),
          Signature: utf8('s'),
          SigningAlgorithm: 'ECDSA_SHA_256',
        }),
      ),
      'InvalidKeyUsageException',
      `${arnOf(symmetric)} key usage is ENCRYPT_DECRYPT which is not valid for Verify.`,
    );
    await rejects(
      kms.send(
        new SignCommand({
          KeyId: ec,
          Message: new Uint8Array(5),
          MessageType: 'DIGEST',
          SigningAlgorithm: 'ECDSA_SHA_256',
        }),
      ),
      'ValidationException',
      'Digest is invalid length for algorithm ECDSA_SHA_256.',
    );
    await rejects(
      kms.send(new GenerateMacCommand({ KeyId: hmac, Message: utf8('m'), MacAlgorithm: 'HMAC_SHA_512' })),
      'InvalidKeyUsageException',
      'Algorithm HMAC_SHA_512 is incompatible with key spec HMAC_256.',
    );
    await rejects(
      kms.send(
        new EncryptCommand({
          KeyId: rsa,
          Plaintext: new Uint8Array(191),
          EncryptionAlgorithm: 'RSAES_OAEP_SHA_256',
        }),
      ),
      'ValidationException',
      'Algorithm RSAES_OAEP_SHA_256 and key spec RSA_2048 cannot encrypt data larger than 190 bytes.',
    );
    const sealed = await kms.send(new EncryptCommand({ KeyId: symmetric, Plaintext: utf8('x') }));
    await rejects(
      kms.send(new DecryptCommand({ CiphertextBlob: sealed.CiphertextBlob, KeyId: hmac })),
      'IncorrectKeyException',
      'The key ID in the request does not identify a CMK that can perform this operation.',
    );
    await rejects(
      kms.send(new CreateAliasCommand({ AliasName: 'mine', TargetKeyId: symmetric })),
      'ValidationException',
      'Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html',
    );
  });
});
