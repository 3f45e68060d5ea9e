import { call } from '../api/client';
import { Button } from '../ui/button';
import { Field } from '../ui/field';
import { flash } from '../ui/flash';
import { FieldProblem, useForm } from '../ui/form';
import { Page, Section } from '../ui/layout';
import { Notice } from '../ui/notice';
import { navigate } from '../router';

export function PasswordPage() {
  const form = useForm({
    fields: ['currentPassword', 'newPassword', 'confirm'],
    fieldOf: { invalid_credentials: 'currentPassword' },
    submit: async ({ currentPassword = '', newPassword = '', confirm = '' }) => {
      if (newPassword !== confirm) throw new FieldProblem('confirm', 'The two passwords differ.');
      await call('post', '/auth/password', { body: { currentPassword, newPassword } });
      flash('Password changed. Your other devices were signed out.');
      navigate('/account');
    },
  });
  return (
    <Page title="Change password" intro="Your other devices are signed out when the password changes.">
      <Section title="New password">
        {form.formError && <Notice kind="error">{form.formError}</Notice>}
        <form ref={form.ref} onSubmit={form.onSubmit} noValidate>
          <Field
            name="currentPassword"
            label="Current password"
            type="password"
            autocomplete="current-password"
            required
            error={form.errors.currentPassword}
          />
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
            <Button type="submit" busy={form.busy} busyLabel="Changing…">
              Change password
            </Button>
          </div>
        </form>
      </Section>
    </Page>
  );
}
