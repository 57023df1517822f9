import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { errors } from '../core/errors.ts';

const pbkdf2Async = promisify(pbkdf2);

/** PostgreSQL's default SCRAM iteration count (`scram_iterations`). */
export const scramIterations = 4096;

/** Printable ASCII: SASLprep leaves it unchanged, so the client and the server hash the same bytes. */
const saslprepIdentity = /^[\x20-\x7e]*$/;

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password`
 * (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, RFC 5802/7677), computed here as
 * `psql`'s `\password` does, so `ALTER ROLE … PASSWORD '<verifier>'` never sends the cleartext
 * password to the server (nor to its statement log, `pg_stat_activity` or `pg_stat_statements`).
 * Only printable-ASCII passwords are accepted (SASLprep would change others).
 */
export async function scramSha256Verifier(
  password: string,
  salt: Buffer = randomBytes(16),
  iterations: number = scramIterations,
): Promise<string> {
  if (!saslprepIdentity.test(password))
    throw errors.invalid('A rotated PostgreSQL password must be printable ASCII.');
  const salted = await pbkdf2Async(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
