import { type ReactNode, useId, useState } from 'react';
import { get } from '../../api/client.ts';
import { ErrorBox } from '../../components/ErrorBox.tsx';
import { useApiAction } from '../../components/use-api-action.ts';

/** `GET /v2/sys/audit/verify` answer. */
interface VerifyResult {
  readonly valid: boolean;
  readonly checked: number;
  readonly chains: number;
  readonly unsigned: number;
  readonly firstBrokenEventId?: string;
  readonly reason?: string;
  readonly problems: { chain?: string; kind: string; firstMissingSeq?: number; seq?: number }[];
}

/** Verifies the audit chain on demand (sys.audit.verify, held at the root) and shows the first broken event. */
export function AuditVerify(): ReactNode {
  const headingId = useId();
  const [result, setResult] = useState<VerifyResult | null>(null);
  const { busy, error, run } = useApiAction();
  const verify = async () => {
    await run(
      async () => {
        setResult(await get<VerifyResult>('/v2/sys/audit/verify'));
      },
      () => setResult(null),
    );
  };
  return (
    <section className="stack" aria-labelledby={headingId}>
      <h2 id={headingId}>Chain verification</h2>
      <p className="muted">
        Checks every event's hash chain and the signed checkpoints of the whole store (needs sys.audit.verify
        at the root).
      </p>
      <div className="actions">
        <button type="button" onClick={() => void verify()} disabled={busy}>
          {busy ? 'Verifying…' : 'Verify the audit chain'}
        </button>
      </div>
      <ErrorBox error={error} title="The chain could not be verified" />
      {result && (
        <div
          className={result.valid ? 'banner info' : 'banner warning'}
          role="status"
          data-testid="audit-verify"
        >
          <p>
            <strong>{result.valid ? 'The audit chain is intact.' : 'The audit chain is broken.'}</strong>{' '}
            {result.checked} events checked in {result.chains} chain(s); {result.unsigned} after the last
            signed checkpoint.
          </p>
          {result.firstBrokenEventId && (
            <p>
              First broken event: <code>{result.firstBrokenEventId}</code>
              {result.reason && <> ({result.reason})</>}
            </p>
          )}
          {result.problems.length > 0 && (
            <ul>
              {result.problems.map((p, i) => (
                <li key={i}>
                  {p.kind}
                  {p.chain && ` in chain ${p.chain}`}
                  {p.seq !== undefined && ` at position ${p.seq}`}
                  {p.firstMissingSeq !== undefined && ` (first missing position ${p.firstMissingSeq})`}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </section>
  );
}
