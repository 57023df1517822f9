import { type FormEvent, type ReactNode, useEffect, useState } from 'react';
import { api } from '../api/client.ts';
import { ErrorBox } from '../components/ErrorBox.tsx';
import { signIn } from '../session.ts';

type Mode = 'password' | 'token';

/**
 * Sign-in: email and password (POST /v2/auth/login) or a pasted token (checked with one API call
 * before it is kept). The page stays where it is afterwards (no return-path parameter, so no open
 * redirect); the token is kept by session.ts only.
 */
export function SignInPage(props: { readonly reason?: string }): ReactNode {
  const [mode, setMode] = useState<Mode>('password');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    document.title = 'Sign in · Coffer';
  }, []);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === 'password') {
        const answer = await api<{ token: string; expireTime: string }>('POST', '/v2/auth/login', {
          anonymous: true,
          body: { email: email.trim(), password },
        });
        setPassword('');
        signIn({ token: answer.token, who: email.trim(), expireTime: answer.expireTime, signedInHere: true });
      } else {
        const pasted = token.trim();
        // Any authenticated call proves the token; listing projects is open to every principal.
        await api('GET', '/v2/projects', { token: pasted, query: { pageSize: 1 } });
        setToken('');
        signIn({ token: pasted, who: 'a pasted token', expireTime: null });
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" className="signin">
      <h1>Sign in to Coffer</h1>
      {props.reason && (
        <p className="banner info" role="status">
          {props.reason}
        </p>
      )}
      <div className="tabs" role="group" aria-label="Sign-in method">
        <button type="button" aria-pressed={mode === 'password'} onClick={() => setMode('password')}>
          Email and password
        </button>
        <button type="button" aria-pressed={mode === 'token'} onClick={() => setMode('token')}>
          Token
        </button>
      </div>
      <form onSubmit={submit} className="card stack">
        {mode === 'password' ? (
          <>
            <label>
              Email
              <input
                type="email"
                autoComplete="username"
                required
                value={email}
                onChange={(e) => setEmail(e.target.value)}
              />
            </label>
            <label>
              Password
              <input
                type="password"
                autoComplete="current-password"
                required
                value={password}
                onChange={(e) => setPassword(e.target.value)}
              />
            </label>
          </>
        ) : (
          <label>
            Token
            <input
              type="password"
              autoComplete="off"
              spellCheck={false}
              required
              value={token}
              onChange={(e) => setToken(e.target.value)}
            />
          </label>
        )}
        <ErrorBox error={error} title="Sign-in failed" />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <p className="muted small">The token is kept in this tab only and is forgotten when the tab closes.</p>
    </main>
  );
}
