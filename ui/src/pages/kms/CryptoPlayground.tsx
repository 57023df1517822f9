import { type FormEvent, type ReactNode, useEffect, useId, useState } from 'react';
import { api } from '../../api/client.ts';
import { ErrorBox } from '../../components/ErrorBox.tsx';
import { useApiAction } from '../../components/use-api-action.ts';
import { base64ToText, textToBase64 } from './kms-paths.ts';

type Operation = 'encrypt' | 'decrypt' | 'sign' | 'verify' | 'mac' | 'verify-mac';

const operationsByPurpose: Readonly<Record<string, readonly Operation[]>> = {
  encrypt_decrypt: ['encrypt', 'decrypt'],
  decrypt: ['decrypt'],
  sign_verify: ['sign', 'verify'],
  mac: ['mac', 'verify-mac'],
};

const permissionOf: Readonly<Record<Operation, string>> = {
  encrypt: 'kms.encrypt',
  decrypt: 'kms.decrypt',
  sign: 'kms.sign',
  verify: 'kms.verify',
  mac: 'kms.mac',
  'verify-mac': 'kms.verify_mac',
};

const labels: Readonly<Record<Operation, string>> = {
  encrypt: 'Encrypt',
  decrypt: 'Decrypt',
  sign: 'Sign',
  verify: 'Verify signature',
  mac: 'Compute MAC',
  'verify-mac': 'Verify MAC',
};

/**
 * A small encrypt/decrypt/sign/MAC playground for a key the caller may use. Inputs and results live
 * only in this component's state: never in the URL, history, storage or the log, no `name` on the
 * fields (nothing a form submission or autofill could keep), and they are gone when the page changes.
 */
export function CryptoPlayground(props: {
  readonly keyApiPath: string;
  readonly purpose: string;
  readonly can: { has(permission: string): boolean };
}): ReactNode {
  const headingId = useId();
  const ops = (operationsByPurpose[props.purpose] ?? []).filter((op) => props.can.has(permissionOf[op]));
  const [op, setOp] = useState<Operation | null>(null);
  const current = op && ops.includes(op) ? op : (ops[0] ?? null);
  const [input, setInput] = useState('');
  const [second, setSecond] = useState('');
  const [aad, setAad] = useState('');
  const [result, setResult] = useState<string | null>(null);
  const { busy, error, setError, run } = useApiAction();
  // Leaving the page (another site, a reload, the tab closing) clears it first, so the back/forward
  // cache never keeps a plaintext or result to show again.
  useEffect(() => {
    const clear = () => {
      setInput('');
      setSecond('');
      setAad('');
      setResult(null);
    };
    window.addEventListener('pagehide', clear);
    return () => window.removeEventListener('pagehide', clear);
  }, []);
  if (!current) return null;

  const takesText =
    current === 'encrypt' ||
    current === 'sign' ||
    current === 'mac' ||
    current === 'verify' ||
    current === 'verify-mac';
  const secondLabel =
    current === 'verify' ? 'Signature (base64)' : current === 'verify-mac' ? 'MAC (base64)' : null;
  const usesAad = current === 'encrypt' || current === 'decrypt';

  const choose = (next: Operation) => {
    setOp(next);
    setInput('');
    setSecond('');
    setResult(null);
    setError(null);
  };
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setResult(null);
    await run(async () => {
      const body: Record<string, string> = {};
      if (usesAad && aad) body.aad = textToBase64(aad);
      if (current === 'encrypt') body.plaintext = textToBase64(input);
      else if (current === 'decrypt') body.ciphertext = input.trim();
      else body.data = textToBase64(input);
      if (current === 'verify') body.signature = second.trim();
      if (current === 'verify-mac') body.mac = second.trim();
      const answer = await api<Record<string, unknown>>('POST', `${props.keyApiPath}/${current}`, { body });
      const version = typeof answer.keyVersion === 'number' ? ` (key version ${answer.keyVersion})` : '';
      if (current === 'encrypt') setResult(`${String(answer.ciphertext)}`);
      else if (current === 'decrypt') {
        const text = base64ToText(String(answer.plaintext));
        setResult(text ?? `(not UTF-8 text; base64) ${String(answer.plaintext)}`);
      } else if (current === 'sign') setResult(String(answer.signature));
      else if (current === 'mac') setResult(String(answer.mac));
      else setResult(answer.valid === true ? `Valid${version}` : `Not valid${version}`);
    });
  };

  return (
    <section className="stack card" aria-labelledby={headingId}>
      <h2 id={headingId}>Try the key</h2>
      <p className="muted small">
        Runs on the server with this key, audited like any call. Nothing typed here is kept: it is not in the
        address, the history or the browser's storage, and leaving the page clears it.
      </p>
      <div role="group" aria-label="Operation" className="actions">
        {ops.map((o) => (
          <button key={o} type="button" aria-pressed={o === current} onClick={() => choose(o)}>
            {labels[o]}
          </button>
        ))}
      </div>
      <form className="stack" onSubmit={submit} autoComplete="off">
        <label>
          {takesText
            ? current === 'encrypt'
              ? 'Plaintext (text)'
              : 'Message (text)'
            : 'Ciphertext (base64)'}
          <textarea
            rows={3}
            value={input}
            spellCheck={false}
            autoComplete="off"
            onChange={(e) => setInput(e.target.value)}
          />
        </label>
        {secondLabel && (
          <label>
            {secondLabel}
            <input
              value={second}
              spellCheck={false}
              autoComplete="off"
              onChange={(e) => setSecond(e.target.value)}
            />
          </label>
        )}
        {usesAad && (
          <label>
            Additional authenticated data (optional text)
            <input
              value={aad}
              spellCheck={false}
              autoComplete="off"
              onChange={(e) => setAad(e.target.value)}
            />
          </label>
        )}
        <div className="actions">
          <button type="submit" className="primary" disabled={busy}>
            {labels[current]}
          </button>
          <button
            type="button"
            onClick={() => {
              setInput('');
              setSecond('');
              setAad('');
              setResult(null);
            }}
          >
            Clear
          </button>
        </div>
      </form>
      <ErrorBox error={error} />
      {result !== null && (
        <label>
          Result
          <textarea
            readOnly
            rows={3}
            value={result}
            spellCheck={false}
            autoComplete="off"
            data-testid="playground-result"
          />
        </label>
      )}
    </section>
  );
}
