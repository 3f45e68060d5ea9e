import { useState } from 'preact/hooks';
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
import { UserBadges } from './user-badges';

export type AdminUser = Success<Op<'/users', 'get'>>[number];

export const PAGE_SIZE = '20';

/** Every account, newest first: search by the start of the email, page through. */
export function UsersPage() {
  const { query } = useLocation();
  const email = query.get('email') ?? '';
  const [typed, setTyped] = useState(email);
  const list = usePaged<AdminUser>(
    (cursor) => call('get', '/users', { query: { limit: PAGE_SIZE, cursor, email: email || undefined } }),
    email,
  );
  const { errors, formError } =
    list.error === undefined
      ? { errors: {} as Record<string, string>, formError: undefined }
      : mapError(list.error, { fields: ['email'] });

  return (
    <Page title="Users" intro="Every account, newest first." wide>
      <Section title="Find users">
        <form
          role="search"
          class="filters"
          onSubmit={(event) => {
            event.preventDefault();
            const value = typed.trim();
            navigate(value ? `/admin/users?email=${encodeURIComponent(value)}` : '/admin/users');
          }}
        >
          <Field
            idPrefix="search"
            name="email"
            label="Email starts with"
            type="search"
            value={typed}
            onInput={setTyped}
            spellcheck={false}
            error={errors.email}
          />
          <div class="actions">
            <Button type="submit" busy={list.loading && list.items !== undefined} busyLabel="Searching…">
              Search
            </Button>
            {email && (
              <Button
                variant="quiet"
                onClick={() => {
                  setTyped('');
                  navigate('/admin/users');
                }}
              >
                Clear
              </Button>
            )}
          </div>
        </form>
        {formError && <Notice kind="error">{formError}</Notice>}
        {list.items === undefined ? (
          list.error === undefined && <Loading />
        ) : list.items.length === 0 ? (
          <EmptyState title={email ? `No user’s email starts with “${email}”` : 'No users yet'}>
            {email && 'Check the spelling, or search for fewer letters.'}
          </EmptyState>
        ) : (
          <Table
            caption="Users"
            rows={list.items}
            rowKey={(u) => u.id}
            busy={list.loading}
            columns={[
              { label: 'Email', render: (u) => <Link to={`/admin/users/${u.id}`}>{u.email}</Link> },
              { label: 'Roles', render: (u) => u.roles.join(', ') },
              { label: 'Status', render: (u) => <UserBadges user={u} /> },
              { label: 'Created', render: (u) => formatDate(u.createdAt) },
            ]}
          />
        )}
        <Pager
          label="Users pages"
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
