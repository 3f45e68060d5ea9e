import { useState } from 'preact/hooks';
import { call } from '../api/client';
import { Button } from '../ui/button';
import { Field } from '../ui/field';
import { useForm } from '../ui/form';
import { EntryCard } from '../ui/layout';
import { Link } from '../ui/link';
import { Notice } from '../ui/notice';

export function ForgotPasswordPage() {
  const [sentTo, setSentTo] = useState<string>();
  const form = useForm({
    fields: ['email'],
    submit: async ({ email = '' }) => {
      await call('post', '/auth/password/forgot', { body: { email }, auth: false });
      setSentTo(email);
    },
  });
  return (
    <EntryCard title="Forgot your password?" intro="We will email you a link to choose a new one.">
      {sentTo ? (
        <Notice kind="success" title="Check your mail">
          If an account exists for {sentTo}, a link to reset its password is on its way. The link works for 30
          minutes.
        </Notice>
      ) : (
        <>
          {form.formError && <Notice kind="error">{form.formError}</Notice>}
          <form ref={form.ref} onSubmit={form.onSubmit} noValidate>
            <Field
              name="email"
              label="Email"
              type="email"
              autocomplete="email"
              required
              error={form.errors.email}
            />
            <div class="actions">
              <Button type="submit" busy={form.busy} busyLabel="Sending…">
                Send reset link
              </Button>
            </div>
          </form>
        </>
      )}
      <p class="switch">
        <Link to="/signin">Back to sign in</Link>
      </p>
    </EntryCard>
  );
}
