import { useState } from 'preact/hooks';
import { authState, reloadMe, useAuth } from '../api/auth';
import { call } from '../api/client';
import { takeFragmentToken } from '../router';
import { Button } from '../ui/button';
import { useForm } from '../ui/form';
import { EntryCard } from '../ui/layout';
import { Link } from '../ui/link';
import { Notice } from '../ui/notice';
import { ResendVerification } from './resend-verification';

/** The mailed link's target: /console/verify-email#token=…; without a token, a new link for the signed-in user. */
export function VerifyEmailPage() {
  const [token] = useState(takeFragmentToken);
  const [done, setDone] = useState(false);
  const auth = useAuth();
  const form = useForm({
    fields: [],
    submit: async () => {
      await call('post', '/auth/email/verify/confirm', { body: { token: token ?? '' }, auth: false });
      setDone(true);
      if (authState().status === 'signedIn') await reloadMe();
    },
  });
  if (!token) {
    return (
      <EntryCard title="Verify your email">
        {auth.status === 'signedIn' ? (
          auth.me.emailVerified ? (
            <Notice kind="success">{auth.me.email} is verified.</Notice>
          ) : (
            <ResendVerification email={auth.me.email} />
          )
        ) : (
          <Notice kind="info">
            Open the link from the verification email, or <Link to="/signin?next=/verify-email">sign in</Link>{' '}
            to get a new one.
          </Notice>
        )}
      </EntryCard>
    );
  }
  return (
    <EntryCard title="Verify your email" intro="Confirm that this address is yours.">
      {done ? (
        <>
          <Notice kind="success" title="Email verified">
            Thank you: your email address is verified.
          </Notice>
          <p class="switch">
            <Link to={auth.status === 'signedIn' ? '/account' : '/signin'}>
              {auth.status === 'signedIn' ? 'Go to your account' : 'Sign in'}
            </Link>
          </p>
        </>
      ) : (
        <form ref={form.ref} onSubmit={form.onSubmit}>
          {form.formError && <Notice kind="error">{form.formError}</Notice>}
          <div class="actions">
            <Button type="submit" busy={form.busy} busyLabel="Verifying…">
              Verify my email
            </Button>
          </div>
        </form>
      )}
    </EntryCard>
  );
}
