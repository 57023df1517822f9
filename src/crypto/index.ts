export {
  type AeadAlgorithm,
  AeadAuthenticationError,
  aeadDecrypt,
  aeadEncrypt,
  aeadKeyBytes,
} from './aead.ts';
export {
  EnvelopeError,
  type EnvelopeHeader,
  type EnvelopeKey,
  envelopeFormatVersion,
  envelopeHeaderBytes,
  openEnvelope,
  readEnvelopeHeader,
  sealEnvelope,
} from './envelope.ts';
export { randomBytesPooled } from './random-pool.ts';
export { formatToken, type ParsedToken, parseToken } from './token-format.ts';
