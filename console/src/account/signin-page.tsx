import { useState } from 'preact/hooks';
import { signedIn } from '../api/auth';
import { ApiError, call } from '../api/client';
import { Button } from '../ui/button';
import { Field } from '../ui/field';
import { useForm } from '../ui/form';
import { EntryCard } from '../ui/layout';
import { Link } from '../ui/link';
import { Notice } from '../ui/notice';

/** Sign in: email and password, then — with two-factor authentication on — a code. */
export function SignInPage() {
  const [challenge, setChallenge] = useState<{ mfaToken: string; email: string }>();
  const [expired, setExpired] = useState(false);
  return challenge ? (
    <MfaStep
      {...challenge}
      onExpired={() => {
        setChallenge(undefined);
        setExpired(true);
      }}
    />
  ) : (
    <PasswordStep onChallenge={setChallenge} expired={expired} />
  );
}

function PasswordStep(props: {
  onChallenge: (c: { mfaToken: string; email: string }) => void;
  expired: boolean;
}) {
  const form = useForm({
    fields: ['email', 'password'],
    fieldOf: { invalid_credentials: 'password' },
    submit: async ({ email = '', password = '' }) => {
      const { data } = await call('post', '/auth/signin', {
        body: { email, password },
        query: { cookie: '1' },
        auth: false,
      });
      if ('mfaRequired' in data) props.onChallenge({ mfaToken: data.mfaToken, email });
      else await signedIn(data.accessToken);
    },
  });
  return (
    <EntryCard title="Sign in" intro="Welcome back. Sign in to manage your account.">
      {props.expired && (
        <Notice kind="info">
          The sign-in step took too long or had too many wrong codes. Sign in again.
        </Notice>
      )}
      {form.formError && <Notice kind="error">{form.formError}</Notice>}
      <form ref={form.ref} onSubmit={form.onSubmit} noValidate>
        <Field
          name="email"
          label="Email"
          type="email"
          autocomplete="username"
          required
          error={form.errors.email}
        />
        <Field
          name="password"
          label="Password"
          type="password"
          autocomplete="current-password"
          required
          error={form.errors.password}
        />
        <div class="actions">
          <Button type="submit" busy={form.busy} busyLabel="Signing in…">
            Sign in
          </Button>
          <Link to="/forgot-password">Forgot your password?</Link>
        </div>
      </form>
      <p class="switch">
        New here? <Link to="/signup">Create an account</Link>
      </p>
    </EntryCard>
  );
}

function MfaStep(props: { mfaToken: string; email: string; onExpired: () => void }) {
  const [recovery, setRecovery] = useState(false);
  const form = useForm({
    fields: ['code', 'recoveryCode'],
    fieldOf: { invalid_mfa_code: recovery ? 'recoveryCode' : 'code' },
    submit: async ({ code = '', recoveryCode = '' }) => {
      const body = recovery
        ? { mfaToken: props.mfaToken, recoveryCode: recoveryCode.trim() }
        : { mfaToken: props.mfaToken, code: code.replace(/\s/g, '') };
      try {
        const { data } = await call('post', '/auth/signin/mfa', {
          body,
          query: { cookie: '1' },
          auth: false,
        });
        await signedIn(data.accessToken);
      } catch (error) {
        if (error instanceof ApiError && error.code === 'invalid_mfa_token') props.onExpired();
        else throw error;
      }
    },
  });
  return (
    <EntryCard
      title="Two-factor authentication"
      intro={
        recovery
          ? 'Enter one of the recovery codes you saved when you set up two-factor authentication.'
          : 'Enter the 6-digit code from your authenticator app.'
      }
    >
      {form.formError && <Notice kind="error">{form.formError}</Notice>}
      <form ref={form.ref} onSubmit={form.onSubmit} noValidate key={recovery ? 'recovery' : 'totp'}>
        {recovery ? (
          <Field
            name="recoveryCode"
            label="Recovery code"
            autocomplete="one-time-code"
            spellcheck={false}
            required
            error={form.errors.recoveryCode}
          />
        ) : (
          <Field
            name="code"
            label="Authentication code"
            inputMode="numeric"
            autocomplete="one-time-code"
            maxLength={8}
            required
            error={form.errors.code}
          />
        )}
        <div class="actions">
          <Button type="submit" busy={form.busy} busyLabel="Checking…">
            Verify
          </Button>
          <Button variant="quiet" onClick={() => setRecovery(!recovery)}>
            {recovery ? 'Use your authenticator app' : 'Use a recovery code'}
          </Button>
        </div>
      </form>
      <p class="muted">Signing in as {props.email}.</p>
    </EntryCard>
  );
}
