import type { AuthState } from '../api/auth';
import { formatDate } from '../ui/format';
import { Page, Section } from '../ui/layout';
import { Link } from '../ui/link';
import { ResendVerification } from './resend-verification';

type Signed = Extract<AuthState, { status: 'signedIn' }>;

/** The signed-in user's overview: who they are, and where to change what. */
export function AccountPage({ auth }: { auth: Signed }) {
  const { me } = auth;
  return (
    <Page title="Your account" intro="Your sign-in details and the security of your account.">
      <Section title="Profile">
        <dl class="facts">
          <div>
            <dt>Email</dt>
            <dd>
              {me.email}{' '}
              {me.emailVerified ? (
                <span class="badge badge-success">Verified</span>
              ) : (
                <span class="badge badge-warning">Not verified</span>
              )}
            </dd>
          </div>
          <div>
            <dt>Roles</dt>
            <dd>{me.roles.join(', ')}</dd>
          </div>
          <div>
            <dt>Two-factor authentication</dt>
            <dd>
              {me.mfaEnabled ? <span class="badge badge-success">On</span> : <span class="badge">Off</span>}
            </dd>
          </div>
          <div>
            <dt>Member since</dt>
            <dd>{formatDate(me.createdAt)}</dd>
          </div>
        </dl>
        {!me.emailVerified && <ResendVerification email={me.email} />}
      </Section>
      <Section title="Manage">
        <ul class="link-list">
          <li>
            <Link to="/account/password">Change your password</Link>
            <span class="muted">Signs out your other devices.</span>
          </li>
          <li>
            <Link to="/account/email">Change your email</Link>
            <span class="muted">Confirmed by a link to the new address.</span>
          </li>
          <li>
            <Link to="/account/security">Two-factor authentication</Link>
            <span class="muted">An authenticator app and recovery codes.</span>
          </li>
          <li>
            <Link to="/account/sessions">Sessions</Link>
            <span class="muted">Where you are signed in; sign out a device.</span>
          </li>
        </ul>
      </Section>
    </Page>
  );
}
