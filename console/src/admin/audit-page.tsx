import { useState } from 'preact/hooks';
import { AUDIT_EVENT_TYPES } from '../../../src/common/security-events';
import { call, type Op, type Success } from '../api/client';
import { navigate, useLocation } from '../router';
import { Button } from '../ui/button';
import { Field } from '../ui/field';
import { formatDate } from '../ui/format';
import { mapError } from '../ui/form';
import { Page, Section } from '../ui/layout';
import { Link } from '../ui/link';
import { EmptyState, Loading, Notice } from '../ui/notice';
import { usePaged } from '../ui/paged';
import { Pager } from '../ui/pager';
import { Table } from '../ui/table';
import { PAGE_SIZE } from './users-page';

type AuditEvent = Success<Op<'/audit-events', 'get'>>[number];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The security events, newest first, filtered by type and by the user they concern. */
export function AuditPage() {
  const { query } = useLocation();
  const type = query.get('type') ?? '';
  const userId = query.get('userId') ?? '';
  const [typedUser, setTypedUser] = useState(userId);
  const [chosenType, setChosenType] = useState(type);
  const [userError, setUserError] = useState<string>();
  const list = usePaged<AuditEvent>(
    (cursor) =>
      call('get', '/audit-events', {
        query: { limit: PAGE_SIZE, cursor, type: type || undefined, userId: userId || undefined },
      }),
    `${type}|${userId}`,
  );
  const mapped = list.error === undefined ? undefined : mapError(list.error, { fields: ['userId', 'type'] });

  const apply = (event: Event) => {
    event.preventDefault();
    const user = typedUser.trim();
    if (user && !UUID.test(user)) {
      setUserError('Enter a user id (a UUID), as on the user’s page.');
      return;
    }
    setUserError(undefined);
    const params = new URLSearchParams();
    if (chosenType) params.set('type', chosenType);
    if (user) params.set('userId', user);
    const search = params.toString();
    navigate(search ? `/admin/audit?${search}` : '/admin/audit');
  };

  return (
    <Page title="Audit events" intro="Security events, newest first." wide>
      <Section title="Filter">
        <form class="filters" onSubmit={apply} noValidate>
          <div class="field">
            <label for="filter-type">Type</label>
            <select
              id="filter-type"
              name="type"
              value={chosenType}
              onChange={(e) => setChosenType((e.target as HTMLSelectElement).value)}
            >
              <option value="">Any type</option>
              {AUDIT_EVENT_TYPES.map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
          </div>
          <Field
            idPrefix="filter"
            name="userId"
            label="User id"
            value={typedUser}
            onInput={setTypedUser}
            spellcheck={false}
            error={userError ?? mapped?.errors.userId}
          />
          <div class="actions">
            <Button type="submit" busy={list.loading && list.items !== undefined} busyLabel="Filtering…">
              Apply filters
            </Button>
            {(type || userId) && (
              <Button
                variant="quiet"
                onClick={() => {
                  setTypedUser('');
                  setChosenType('');
                  navigate('/admin/audit');
                }}
              >
                Clear
              </Button>
            )}
          </div>
        </form>
        {mapped?.formError && <Notice kind="error">{mapped.formError}</Notice>}
        {list.items === undefined ? (
          list.error === undefined && <Loading />
        ) : list.items.length === 0 ? (
          <EmptyState title="No events match">{(type || userId) && 'Try fewer filters.'}</EmptyState>
        ) : (
          <Table
            caption="Audit events"
            rows={list.items}
            rowKey={(e) => e.id}
            busy={list.loading}
            columns={[
              { label: 'When', render: (e) => formatDate(e.createdAt) },
              { label: 'Type', render: (e) => <code>{e.type}</code> },
              {
                label: 'User',
                render: (e) =>
                  e.userId ? <Link to={`/admin/users/${e.userId}`}>{short(e.userId)}</Link> : '—',
              },
              { label: 'Actor', render: (e) => (e.actorId ? short(e.actorId) : '—') },
              { label: 'Address', render: (e) => e.ip ?? '—' },
              { label: 'Detail', render: (e) => <Detail detail={e.detail} /> },
            ]}
          />
        )}
        <Pager
          label="Audit events pages"
          page={list.page}
          hasNext={list.hasNext}
          busy={list.loading}
          onPrevious={list.previous}
          onNext={list.next}
        />
      </Section>
    </Page>
  );
}

const short = (id: string) => `${id.slice(0, 8)}…`;

function Detail(props: { detail: Record<string, unknown> }) {
  const entries = Object.entries(props.detail);
  if (entries.length === 0) return <>—</>;
  return (
    <span class="detail">
      {entries.map(([key, value]) => (
        <span key={key}>
          {key}: {typeof value === 'string' ? value : JSON.stringify(value)}
        </span>
      ))}
    </span>
  );
}
