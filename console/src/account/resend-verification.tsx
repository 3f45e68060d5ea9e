import { useState } from 'preact/hooks';
import { reloadMe } from '../api/auth';
import { ApiError, call } from '../api/client';
import { Button } from '../ui/button';
import { useForm } from '../ui/form';
import { Notice } from '../ui/notice';

/** "Not verified yet": sends a new verification link to the signed-in user. */
export function ResendVerification(props: { email: string }) {
  const [sent, setSent] = useState(false);
  const form = useForm({
    fields: [],
    submit: async () => {
      try {
        await call('post', '/auth/email/verify');
        setSent(true);
      } catch (error) {
        if (error instanceof ApiError && error.code === 'already_verified') await reloadMe();
        else throw error;
      }
    },
  });
  if (sent) {
    return (
      <Notice kind="success" title="Link sent">
        A new verification link is on its way to {props.email}.
      </Notice>
    );
  }
  return (
    <form ref={form.ref} onSubmit={form.onSubmit} class="inline-form">
      <p>
        <strong>{props.email}</strong> is not verified yet. Open the link we emailed you, or get a new one.
      </p>
      {form.formError && <Notice kind="error">{form.formError}</Notice>}
      <Button type="submit" variant="secondary" busy={form.busy} busyLabel="Sending…">
        Send a new verification link
      </Button>
    </form>
  );
}
