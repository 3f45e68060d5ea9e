import { useState } from 'preact/hooks';
import { authState, reloadMe, useAuth } from '../api/auth';
import { call } from '../api/client';
import { takeFragmentToken } from '../router';
import { Button } from '../ui/button';
import { useForm } from '../ui/form';
import { EntryCard } from '../ui/layout';
import { Link } from '../ui/link';
import { Notice } from '../ui/notice';
import { BadLink } from './reset-password-page';

/** The mailed link's target: /console/confirm-email#token=… (sent to the new address). */
export function ConfirmEmailPage() {
  const [token] = useState(takeFragmentToken);
  const [done, setDone] = useState(false);
  const auth = useAuth();
  const form = useForm({
    fields: [],
    submit: async () => {
      await call('post', '/auth/email/confirm', { body: { token: token ?? '' }, auth: false });
      setDone(true);
      // Every session of the account ends with the change: this one too, if it is the account's.
      if (authState().status === 'signedIn') await reloadMe();
    },
  });
  if (!token) return <BadLink />;
  return (
    <EntryCard title="Confirm your new email" intro="Your account’s email address changes once you confirm.">
      {done ? (
        <>
          <Notice kind="success" title="Email changed">
            Your account now uses this address. For your security every device was signed out: sign in with
            the new address.
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
            <Button type="submit" busy={form.busy} busyLabel="Confirming…">
              Confirm new email
            </Button>
          </div>
        </form>
      )}
    </EntryCard>
  );
}
