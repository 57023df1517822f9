export { type AeadAlgorithm, AeadAuthenticationError, aeadDecrypt, aeadEncrypt, aeadKeyBytes } from './aead.ts';
export {
  type EnvelopeHeader,
  type EnvelopeKey,
  EnvelopeError,
  envelopeFormatVersion,
  envelopeHeaderBytes,
  openEnvelope,
  readEnvelopeHeader,
  sealEnvelope,
} from './envelope.ts';
export { randomBytesPooled } from './random-pool.ts';
export { formatToken, parseToken, type ParsedToken } from './token-format.ts';
