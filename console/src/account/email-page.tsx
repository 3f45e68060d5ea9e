import { useState } from 'preact/hooks';
import type { AuthState } from '../api/auth';
import { call } from '../api/client';
import { Button } from '../ui/button';
import { Field } from '../ui/field';
import { useForm } from '../ui/form';
import { Page, Section } from '../ui/layout';
import { Notice } from '../ui/notice';

type Signed = Extract<AuthState, { status: 'signedIn' }>;

export function EmailPage({ auth }: { auth: Signed }) {
  const [sentTo, setSentTo] = useState<string>();
  const form = useForm({
    fields: ['newEmail', 'currentPassword'],
    fieldOf: { invalid_credentials: 'currentPassword', email_taken: 'newEmail' },
    submit: async ({ newEmail = '', currentPassword = '' }) => {
      await call('post', '/auth/email', { body: { newEmail, currentPassword } });
      setSentTo(newEmail);
    },
  });
  return (
    <Page title="Change email" intro={`Your account uses ${auth.me.email}.`}>
      <Section title="New email address">
        {sentTo ? (
          <Notice kind="success" title="Check your new inbox">
            We sent a link to {sentTo}. Your email changes when you open it (within an hour). Your current
            address got a notice.
          </Notice>
        ) : (
          <>
            {form.formError && <Notice kind="error">{form.formError}</Notice>}
            <form ref={form.ref} onSubmit={form.onSubmit} noValidate>
              <Field
                name="newEmail"
                label="New email"
                type="email"
                autocomplete="email"
                required
                error={form.errors.newEmail}
              />
              <Field
                name="currentPassword"
                label="Current password"
                type="password"
                autocomplete="current-password"
                required
                error={form.errors.currentPassword}
              />
              <div class="actions">
                <Button type="submit" busy={form.busy} busyLabel="Sending…">
                  Send confirmation link
                </Button>
              </div>
            </form>
          </>
        )}
      </Section>
    </Page>
  );
}
