import { useState } from 'preact/hooks';
import { call } from '../api/client';
import { takeFragmentToken } from '../router';
import { Button } from '../ui/button';
import { Field } from '../ui/field';
import { FieldProblem, useForm } from '../ui/form';
import { EntryCard } from '../ui/layout';
import { Link } from '../ui/link';
import { Notice } from '../ui/notice';

/** The mailed link's target: /console/reset-password#token=… */
export function ResetPasswordPage() {
  const [token] = useState(takeFragmentToken);
  const [done, setDone] = useState(false);
  const form = useForm({
    fields: ['newPassword', 'confirm'],
    fieldOf: { token: 'form' },
    submit: async ({ newPassword = '', confirm = '' }) => {
      if (newPassword !== confirm) throw new FieldProblem('confirm', 'The two passwords differ.');
      await call('post', '/auth/password/reset', { body: { token: token ?? '', newPassword }, auth: false });
      setDone(true);
    },
  });
  if (!token) return <BadLink />;
  return (
    <EntryCard
      title="Choose a new password"
      intro="Every device signed in to your account will be signed out."
    >
      {done ? (
        <>
          <Notice kind="success" title="Password changed">
            Your new password is set. Sign in with it.
          </Notice>
          <p class="switch">
            <Link to="/signin">Sign in</Link>
          </p>
        </>
      ) : (
        <>
          {form.formError && <Notice kind="error">{form.formError}</Notice>}
          <form ref={form.ref} onSubmit={form.onSubmit} noValidate>
            <Field
              name="newPassword"
              label="New password"
              type="password"
              autocomplete="new-password"
              required
              hint="At least 8 characters."
              error={form.errors.newPassword}
            />
            <Field
              name="confirm"
              label="New password again"
              type="password"
              autocomplete="new-password"
              required
              error={form.errors.confirm}
            />
            <div class="actions">
              <Button type="submit" busy={form.busy} busyLabel="Saving…">
                Set new password
              </Button>
            </div>
          </form>
        </>
      )}
    </EntryCard>
  );
}

export function BadLink() {
  return (
    <EntryCard title="This link is incomplete">
      <Notice kind="error">
        The link has no token. Open the link from the email again, or copy the whole address into the browser.
      </Notice>
      <p class="switch">
        <Link to="/signin">Go to sign in</Link>
      </p>
    </EntryCard>
  );
}
