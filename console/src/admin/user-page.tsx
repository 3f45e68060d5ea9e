import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ROLES, type Role } from '../../../src/access/policy';
import { reloadMe, type AuthState } from '../api/auth';
import { call, type Op, type Success } from '../api/client';
import { navigate } from '../router';
import { Button } from '../ui/button';
import { useConfirm } from '../ui/dialog';
import { flash } from '../ui/flash';
import { formatDate } from '../ui/format';
import { messageOf } from '../ui/form';
import { Page, Section } from '../ui/layout';
import { Link } from '../ui/link';
import { Loading, Notice } from '../ui/notice';
import { UserBadges } from './user-badges';

type User = Success<Op<'/users/{id}', 'get'>>;
type Signed = Extract<AuthState, { status: 'signedIn' }>;

/** One account: its roles, enabled or not, its sessions and second factor, and deletion. */
export function UserPage(props: { id: string; auth: Signed }) {
  const [user, setUser] = useState<User>();
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();
  const [dialog, confirm] = useConfirm();
  const canWrite = props.auth.permissions.has('users:write');
  const canRevoke = props.auth.permissions.has('sessions:revoke');
  const self = props.id === props.auth.me.id;

  useEffect(() => {
    call('get', '/users/{id}', { params: { id: props.id } }).then(
      ({ data }) => setUser(data),
      (failure: unknown) => setError(messageOf(failure)),
    );
  }, [props.id]);

  if (error) {
    return (
      <Page title="User">
        <Notice kind="error">{error}</Notice>
        <p>
          <Link to="/admin/users">Back to users</Link>
        </p>
      </Page>
    );
  }
  if (!user) return <Loading />;

  /** Changes the user and shows the answer; a change to oneself reloads one's own account too. */
  const update = async (body: { roles?: Role[]; disabled?: boolean }, message: string) => {
    const { data } = await call('patch', '/users/{id}', { params: { id: user.id }, body });
    setUser(data);
    setDone(message);
    if (self) await reloadMe();
  };

  return (
    <Page title={user.email} intro={<Link to="/admin/users">← All users</Link>}>
      {done && <Notice kind="success">{done}</Notice>}
      <Section title="Overview">
        <dl class="facts">
          <div>
            <dt>Status</dt>
            <dd>
              <UserBadges user={user} />
            </dd>
          </div>
          <div>
            <dt>Email verified</dt>
            <dd>{user.emailVerified ? 'Yes' : 'No'}</dd>
          </div>
          <div>
            <dt>Two-factor authentication</dt>
            <dd>{user.mfaEnabled ? 'On' : 'Off'}</dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd>{formatDate(user.createdAt)}</dd>
          </div>
          <div>
            <dt>Id</dt>
            <dd>
              <code>{user.id}</code>
            </dd>
          </div>
        </dl>
        <p>
          <Link to={`/admin/audit?userId=${user.id}`}>Audit events of this user</Link>
        </p>
      </Section>
      {canWrite && <RolesSection user={user} confirm={confirm} update={update} />}
      {(canWrite || canRevoke) && (
        <Section title="Access">
          <div class="action-rows">
            {canWrite && (
              <ActionRow
                title={user.disabled ? 'Enable the account' : 'Disable the account'}
                text={
                  user.disabled
                    ? 'The user can sign in again.'
                    : 'The user is signed out at once and cannot sign in until enabled.'
                }
              >
                <Button
                  variant={user.disabled ? 'secondary' : 'danger'}
                  onClick={() =>
                    confirm({
                      title: user.disabled ? `Enable ${user.email}?` : `Disable ${user.email}?`,
                      children: (
                        <p>
                          {user.disabled
                            ? 'They will be able to sign in again.'
                            : 'Every session ends now, and signing in is refused until the account is enabled.'}
                        </p>
                      ),
                      confirmLabel: user.disabled ? 'Enable' : 'Disable',
                      busyLabel: user.disabled ? 'Enabling…' : 'Disabling…',
                      danger: !user.disabled,
                      onConfirm: () =>
                        update(
                          { disabled: !user.disabled },
                          user.disabled ? 'The account is enabled.' : 'The account is disabled.',
                        ),
                    })
                  }
                >
                  {user.disabled ? 'Enable' : 'Disable'}
                </Button>
              </ActionRow>
            )}
            {canRevoke && (
              <ActionRow
                title="Sign out everywhere"
                text="Ends every session of the user; they can sign in again."
              >
                <Button
                  variant="secondary"
                  onClick={() =>
                    confirm({
                      title: `Sign ${user.email} out everywhere?`,
                      children: <p>Every device of the user will have to sign in again.</p>,
                      confirmLabel: 'Sign out everywhere',
                      busyLabel: 'Signing out…',
                      onConfirm: async () => {
                        await call('delete', '/users/{id}/sessions', { params: { id: user.id } });
                        setDone('Every session of the user has ended.');
                      },
                    })
                  }
                >
                  Revoke sessions
                </Button>
              </ActionRow>
            )}
            {canWrite && user.mfaEnabled && (
              <ActionRow
                title="Reset two-factor authentication"
                text="For a user who lost their phone: removes the authenticator and the recovery codes, and ends every session."
              >
                <Button
                  variant="danger"
                  onClick={() =>
                    confirm({
                      title: `Reset two-factor authentication of ${user.email}?`,
                      children: (
                        <p>They will sign in with their password alone, and should set it up again.</p>
                      ),
                      confirmLabel: 'Reset two-factor',
                      busyLabel: 'Resetting…',
                      onConfirm: async () => {
                        await call('delete', '/users/{id}/mfa', { params: { id: user.id } });
                        setUser({ ...user, mfaEnabled: false });
                        setDone('Two-factor authentication is reset.');
                      },
                    })
                  }
                >
                  Reset two-factor
                </Button>
              </ActionRow>
            )}
          </div>
        </Section>
      )}
      {canWrite && (
        <Section title="Delete">
          <ActionRow
            title="Delete the account"
            text="The account and its sessions go; its audit events stay."
          >
            <Button
              variant="danger"
              onClick={() =>
                confirm({
                  title: `Delete ${user.email}?`,
                  children: <p>This cannot be undone.</p>,
                  confirmLabel: 'Delete account',
                  busyLabel: 'Deleting…',
                  onConfirm: async () => {
                    await call('delete', '/users/{id}', { params: { id: user.id } });
                    flash(`${user.email} was deleted.`);
                    navigate('/admin/users');
                  },
                })
              }
            >
              Delete account
            </Button>
          </ActionRow>
        </Section>
      )}
      {dialog}
    </Page>
  );
}

function ActionRow(props: { title: string; text: string; children: ComponentChildren }) {
  return (
    <div class="action-row">
      <div>
        <p class="action-title">{props.title}</p>
        <p class="muted">{props.text}</p>
      </div>
      {props.children}
    </div>
  );
}

function RolesSection(props: {
  user: User;
  confirm: ReturnType<typeof useConfirm>[1];
  update: (body: { roles: Role[] }, message: string) => Promise<void>;
}) {
  const { user } = props;
  const [roles, setRoles] = useState<Set<string>>(new Set(user.roles));
  useEffect(() => setRoles(new Set(user.roles)), [user.roles.join()]);
  const changed = roles.size !== user.roles.length || user.roles.some((role) => !roles.has(role));
  const chosen = ROLES.filter((role) => roles.has(role));
  return (
    <Section title="Roles">
      <form
        onSubmit={(event) => {
          event.preventDefault();
          props.confirm({
            title: `Change the roles of ${user.email}?`,
            children: (
              <p>
                From <strong>{user.roles.join(', ') || 'none'}</strong> to{' '}
                <strong>{chosen.join(', ') || 'none'}</strong>. It takes effect on their next request.
              </p>
            ),
            confirmLabel: 'Change roles',
            busyLabel: 'Saving…',
            danger: false,
            onConfirm: () => props.update({ roles: chosen }, 'The roles are changed.'),
          });
        }}
      >
        <fieldset class="checks">
          <legend>Roles of the user</legend>
          {ROLES.map((role) => (
            <label key={role} class="check">
              <input
                type="checkbox"
                name="roles"
                value={role}
                checked={roles.has(role)}
                onChange={(event) => {
                  const next = new Set(roles);
                  if ((event.target as HTMLInputElement).checked) next.add(role);
                  else next.delete(role);
                  setRoles(next);
                }}
              />
              <span>{role}</span>
            </label>
          ))}
        </fieldset>
        <div class="actions">
          <Button type="submit" disabled={!changed}>
            Save roles
          </Button>
        </div>
      </form>
    </Section>
  );
}
