import { call } from './test-node.ts';

/**
 * Gives `keys` to one unseal attempt, as share holders do: the first share starts the attempt and its
 * answer carries the nonce, which every later share names. Returns the last answer.
 */
export async function unsealWith(url: string, keys: readonly string[]): ReturnType<typeof call> {
  let nonce: string | undefined;
  let answer: Awaited<ReturnType<typeof call>> | undefined;
  for (const key of keys) {
    answer = await call(url, 'POST', '/v2/sys/unseal', { body: { key, ...(nonce ? { nonce } : {}) } });
    nonce = answer.body?.nonce || nonce;
  }
  if (answer === undefined) throw new Error('unsealWith: no keys');
  return answer;
}
