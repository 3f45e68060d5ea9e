import { sessionEnded, signOut } from '../api/auth';
import { call, type Op, type Success } from '../api/client';
import { navigate } from '../router';
import { Button } from '../ui/button';
import { useConfirm } from '../ui/dialog';
import { flash } from '../ui/flash';
import { describeAgent, formatDate } from '../ui/format';
import { Page, Section } from '../ui/layout';
import { EmptyState, Loading, Notice } from '../ui/notice';
import { usePaged } from '../ui/paged';
import { messageOf } from '../ui/form';
import { Pager } from '../ui/pager';
import { Table } from '../ui/table';

type Session = Success<Op<'/auth/sessions', 'get'>>[number];

/** The caller's sessions (one per signin): sign one out, or all of them. */
export function SessionsPage() {
  const [dialog, confirm] = useConfirm();
  const list = usePaged<Session>(
    (cursor) => call('get', '/auth/sessions', { query: { limit: '20', cursor } }),
    'sessions',
  );

  const revoke = (session: Session) =>
    confirm({
      title: 'Sign out this device?',
      children: (
        <p>
          {describeAgent(session.userAgent)}, last active {formatDate(session.lastUsedAt)}, will have to sign
          in again.
        </p>
      ),
      confirmLabel: 'Sign out device',
      busyLabel: 'Signing out…',
      onConfirm: async () => {
        await call('delete', '/auth/sessions/{id}', { params: { id: session.id } });
        if (session.current) {
          sessionEnded();
          navigate('/signin');
        } else list.reload();
      },
    });

  const everywhere = () =>
    confirm({
      title: 'Sign out everywhere?',
      children: <p>Every device signed in to your account, this one included, will have to sign in again.</p>,
      confirmLabel: 'Sign out everywhere',
      busyLabel: 'Signing out…',
      onConfirm: async () => {
        await signOut(true);
        flash('You were signed out on every device.');
        navigate('/signin');
      },
    });

  return (
    <Page
      title="Sessions"
      intro="Each device or browser you signed in with. Sign out any you do not recognise."
    >
      <Section title="Signed-in devices">
        {list.error !== undefined && <Notice kind="error">{messageOf(list.error)}</Notice>}
        {list.items === undefined ? (
          <Loading />
        ) : list.items.length === 0 ? (
          <EmptyState title="No active sessions" />
        ) : (
          <Table
            caption="Your sessions"
            rows={list.items}
            rowKey={(s) => s.id}
            busy={list.loading}
            columns={[
              {
                label: 'Device',
                render: (s) => (
                  <>
                    {describeAgent(s.userAgent)}{' '}
                    {s.current && <span class="badge badge-success">This device</span>}
                  </>
                ),
              },
              { label: 'Address', render: (s) => s.ip ?? '—' },
              { label: 'Signed in', render: (s) => formatDate(s.createdAt) },
              { label: 'Last active', render: (s) => formatDate(s.lastUsedAt) },
              {
                label: 'Actions',
                hideLabel: true,
                render: (s) => (
                  <Button variant="secondary" onClick={() => revoke(s)}>
                    {s.current ? 'Sign out' : 'Sign out device'}
                  </Button>
                ),
              },
            ]}
          />
        )}
        <Pager
          label="Sessions pages"
          page={list.page}
          hasNext={list.hasNext}
          busy={list.loading}
          onPrevious={list.previous}
          onNext={list.next}
        />
      </Section>
      <Section title="Everywhere" intro="Lost a device, or signed in on a shared computer?">
        <Button variant="danger" onClick={everywhere}>
          Sign out everywhere
        </Button>
      </Section>
      {dialog}
    </Page>
  );
}
