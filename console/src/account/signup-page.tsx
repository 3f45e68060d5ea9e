import { signedIn } from '../api/auth';
import { call } from '../api/client';
import { Button } from '../ui/button';
import { Field } from '../ui/field';
import { flash } from '../ui/flash';
import { FieldProblem, useForm } from '../ui/form';
import { EntryCard } from '../ui/layout';
import { Link } from '../ui/link';
import { Notice } from '../ui/notice';

export function SignUpPage() {
  const form = useForm({
    fields: ['email', 'password', 'confirm'],
    fieldOf: { email_taken: 'email' },
    submit: async ({ email = '', password = '', confirm = '' }) => {
      if (password !== confirm) throw new FieldProblem('confirm', 'The two passwords differ.');
      const { data } = await call('post', '/auth/signup', {
        body: { email, password },
        query: { cookie: '1' },
        auth: false,
      });
      flash('Your account is ready. We sent you an email to verify your address.');
      await signedIn(data.accessToken);
    },
  });
  return (
    <EntryCard title="Create an account" intro="One account for every application that uses Gatehouse.">
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
        <Field
          name="password"
          label="Password"
          type="password"
          autocomplete="new-password"
          required
          hint="At least 8 characters. A long phrase is easy to remember and hard to guess."
          error={form.errors.password}
        />
        <Field
          name="confirm"
          label="Password again"
          type="password"
          autocomplete="new-password"
          required
          error={form.errors.confirm}
        />
        <div class="actions">
          <Button type="submit" busy={form.busy} busyLabel="Creating your account…">
            Create account
          </Button>
        </div>
      </form>
      <p class="switch">
        Already have an account? <Link to="/signin">Sign in</Link>
      </p>
    </EntryCard>
  );
}
