import QRCode from 'qrcode';
import { useEffect, useState } from 'preact/hooks';
import { reloadMe, type AuthState } from '../api/auth';
import { call } from '../api/client';
import { Button } from '../ui/button';
import { Field } from '../ui/field';
import { useForm } from '../ui/form';
import { Page, Section } from '../ui/layout';
import { Loading, Notice } from '../ui/notice';
import { RecoveryCodes } from './recovery-codes';

type Signed = Extract<AuthState, { status: 'signedIn' }>;

/** Two-factor authentication: set up an authenticator app, recovery codes, turn it off. */
export function SecurityPage({ auth }: { auth: Signed }) {
  // New recovery codes stay on screen until the user says they are stored, whatever the account's state.
  const [codes, setCodes] = useState<string[]>();
  const [notice, setNotice] = useState<string>();
  return (
    <Page
      title="Two-factor authentication"
      intro="With an authenticator app, signing in needs a code from your phone as well as your password."
    >
      {notice && <Notice kind="success">{notice}</Notice>}
      {codes ? (
        <Section title="Save your recovery codes">
          <RecoveryCodes
            codes={codes}
            onDone={() => {
              setCodes(undefined);
              void reloadMe();
            }}
          />
        </Section>
      ) : auth.me.mfaEnabled ? (
        <>
          <Notice kind="success">Two-factor authentication is on.</Notice>
          <RegenerateCodes onCodes={setCodes} />
          <DisableMfa onDone={() => setNotice('Two-factor authentication is off.')} />
        </>
      ) : (
        <Enrol
          onCodes={(list) => {
            setNotice(undefined);
            setCodes(list);
          }}
        />
      )}
    </Page>
  );
}

function Enrol(props: { onCodes: (codes: string[]) => void }) {
  const [pending, setPending] = useState<{ secret: string; otpauthUrl: string }>();
  const start = useForm({
    fields: ['currentPassword'],
    fieldOf: { invalid_credentials: 'currentPassword' },
    submit: async ({ currentPassword = '' }) => {
      const { data } = await call('post', '/auth/mfa/totp', { body: { currentPassword } });
      setPending(data);
    },
  });
  const confirm = useForm({
    fields: ['code'],
    fieldOf: { invalid_mfa_code: 'code' },
    submit: async ({ code = '' }) => {
      const { data } = await call('post', '/auth/mfa/totp/confirm', {
        body: { code: code.replace(/\s/g, '') },
      });
      props.onCodes(data.recoveryCodes);
    },
  });
  if (!pending) {
    return (
      <Section title="Set up an authenticator app" intro="First, confirm it is you.">
        {start.formError && <Notice kind="error">{start.formError}</Notice>}
        <form ref={start.ref} onSubmit={start.onSubmit} noValidate>
          <Field
            name="currentPassword"
            label="Current password"
            type="password"
            autocomplete="current-password"
            required
            error={start.errors.currentPassword}
          />
          <div class="actions">
            <Button type="submit" busy={start.busy} busyLabel="Starting…">
              Set up authenticator app
            </Button>
          </div>
        </form>
      </Section>
    );
  }
  return (
    <Section
      title="Scan the code"
      intro="Scan the QR code with your authenticator app, or type the key into it."
    >
      <div class="enrol">
        <QrCode value={pending.otpauthUrl} />
        <div>
          <p class="label">Setup key</p>
          <p>
            <code class="secret" id="totp-secret">
              {pending.secret.replace(/(.{4})/g, '$1 ').trim()}
            </code>
          </p>
          {confirm.formError && <Notice kind="error">{confirm.formError}</Notice>}
          <form ref={confirm.ref} onSubmit={confirm.onSubmit} noValidate>
            <Field
              name="code"
              label="Code from the app"
              inputMode="numeric"
              autocomplete="one-time-code"
              maxLength={8}
              required
              hint="The 6 digits the app shows now."
              error={confirm.errors.code}
            />
            <div class="actions">
              <Button type="submit" busy={confirm.busy} busyLabel="Checking…">
                Turn on two-factor authentication
              </Button>
            </div>
          </form>
        </div>
      </div>
    </Section>
  );
}

/** The otpauth:// URI as a QR code, drawn here (a data: image): the secret never leaves the page. */
function QrCode(props: { value: string }) {
  const [image, setImage] = useState<string>();
  useEffect(() => {
    let current = true;
    void QRCode.toDataURL(props.value, { margin: 1, width: 200, errorCorrectionLevel: 'M' }).then((url) => {
      if (current) setImage(url);
    });
    return () => {
      current = false;
    };
  }, [props.value]);
  return (
    <div class="qr">
      {image ? (
        <img src={image} width={200} height={200} alt="QR code of the setup key for your authenticator app" />
      ) : (
        <Loading />
      )}
    </div>
  );
}

function RegenerateCodes(props: { onCodes: (codes: string[]) => void }) {
  const form = useForm({
    fields: ['code'],
    fieldOf: { invalid_mfa_code: 'code' },
    submit: async ({ code = '' }) => {
      const { data } = await call('post', '/auth/mfa/recovery-codes', {
        body: { code: code.replace(/\s/g, '') },
      });
      props.onCodes(data.recoveryCodes);
    },
  });
  return (
    <Section
      title="Recovery codes"
      intro="Lost them, or used several? Get a new set; the old codes stop working."
    >
      {form.formError && <Notice kind="error">{form.formError}</Notice>}
      <form ref={form.ref} onSubmit={form.onSubmit} noValidate>
        <Field
          idPrefix="regenerate"
          name="code"
          label="Code from the app"
          inputMode="numeric"
          autocomplete="one-time-code"
          maxLength={8}
          required
          error={form.errors.code}
        />
        <div class="actions">
          <Button type="submit" variant="secondary" busy={form.busy} busyLabel="Generating…">
            Get new recovery codes
          </Button>
        </div>
      </form>
    </Section>
  );
}

function DisableMfa(props: { onDone: () => void }) {
  const form = useForm({
    fields: ['code'],
    fieldOf: { invalid_mfa_code: 'code' },
    submit: async ({ code = '' }) => {
      await call('delete', '/auth/mfa/totp', { body: { code: code.trim() } });
      props.onDone();
      await reloadMe();
    },
  });
  return (
    <Section title="Turn off two-factor authentication" intro="Signing in will need only your password.">
      {form.formError && <Notice kind="error">{form.formError}</Notice>}
      <form ref={form.ref} onSubmit={form.onSubmit} noValidate>
        <Field
          idPrefix="disable"
          name="code"
          label="Code from the app, or a recovery code"
          autocomplete="one-time-code"
          spellcheck={false}
          required
          error={form.errors.code}
        />
        <div class="actions">
          <Button type="submit" variant="danger" busy={form.busy} busyLabel="Turning off…">
            Turn off
          </Button>
        </div>
      </form>
    </Section>
  );
}
