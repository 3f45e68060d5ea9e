import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { AccountPage } from './account/account-page';
import { ConfirmEmailPage } from './account/confirm-email-page';
import { EmailPage } from './account/email-page';
import { ForgotPasswordPage } from './account/forgot-password-page';
import { PasswordPage } from './account/password-page';
import { ResetPasswordPage } from './account/reset-password-page';
import { SecurityPage } from './account/security-page';
import { SessionsPage } from './account/sessions-page';
import { SignInPage } from './account/signin-page';
import { SignUpPage } from './account/signup-page';
import { VerifyEmailPage } from './account/verify-email-page';
import { AuditPage } from './admin/audit-page';
import { UserPage } from './admin/user-page';
import { UsersPage } from './admin/users-page';
import { signOut, startSession, useAuth, type AuthState } from './api/auth';
import { navigate, useLocation } from './router';
import { Button } from './ui/button';
import { Link } from './ui/link';
import { Loading, Notice } from './ui/notice';

type Signed = Extract<AuthState, { status: 'signedIn' }>;

interface Route {
  title: string;
  /** Who may open it: anyone, only signed out (the entry pages), signed in, or with a permission. */
  access: 'any' | 'signedOut' | 'signedIn' | 'users:read' | 'audit:read';
  render: (params: Record<string, string>, auth: AuthState) => ComponentChildren;
}

const ROUTES: Record<string, Route> = {
  '/signin': { title: 'Sign in', access: 'signedOut', render: () => <SignInPage /> },
  '/signup': { title: 'Create an account', access: 'signedOut', render: () => <SignUpPage /> },
  '/forgot-password': { title: 'Forgot password', access: 'any', render: () => <ForgotPasswordPage /> },
  '/reset-password': { title: 'Choose a new password', access: 'any', render: () => <ResetPasswordPage /> },
  '/verify-email': { title: 'Verify your email', access: 'any', render: () => <VerifyEmailPage /> },
  '/confirm-email': { title: 'Confirm your new email', access: 'any', render: () => <ConfirmEmailPage /> },
  '/account': {
    title: 'Your account',
    access: 'signedIn',
    render: (_, a) => <AccountPage auth={a as Signed} />,
  },
  '/account/sessions': { title: 'Sessions', access: 'signedIn', render: () => <SessionsPage /> },
  '/account/password': { title: 'Change password', access: 'signedIn', render: () => <PasswordPage /> },
  '/account/email': {
    title: 'Change email',
    access: 'signedIn',
    render: (_, a) => <EmailPage auth={a as Signed} />,
  },
  '/account/security': {
    title: 'Two-factor authentication',
    access: 'signedIn',
    render: (_, a) => <SecurityPage auth={a as Signed} />,
  },
  '/admin/users': { title: 'Users', access: 'users:read', render: () => <UsersPage /> },
  '/admin/users/:id': {
    title: 'User',
    access: 'users:read',
    render: (params, a) => <UserPage id={params.id!} auth={a as Signed} />,
  },
  '/admin/audit': { title: 'Audit events', access: 'audit:read', render: () => <AuditPage /> },
};

function match(path: string): { route: Route; params: Record<string, string> } | undefined {
  for (const [pattern, route] of Object.entries(ROUTES)) {
    const names: string[] = [];
    const regex = new RegExp(
      `^${pattern.replace(/:(\w+)/g, (_, name: string) => (names.push(name), '([^/]+)'))}$`,
    );
    const found = regex.exec(path);
    if (found) {
      return {
        route,
        params: Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(found[i + 1]!)])),
      };
    }
  }
  return undefined;
}

export function App() {
  const auth = useAuth();
  const { path, query } = useLocation();
  useEffect(() => void startSession(), []);

  const found = path === '/' ? undefined : match(path);
  const signedIn = auth.status === 'signedIn';

  // Where a page is not for the current state, go where it is.
  useEffect(() => {
    if (auth.status === 'loading') return;
    if (path === '/' || (found?.route.access === 'signedOut' && signedIn)) {
      navigate(signedIn ? safeNext(query.get('next')) : '/signin', { replace: true });
    } else if (found && !signedIn && found.route.access !== 'any' && found.route.access !== 'signedOut') {
      navigate(`/signin?next=${encodeURIComponent(path + location.search)}`, { replace: true });
    }
  }, [auth.status, path]);

  const title = found?.route.title ?? 'Not found';
  useEffect(() => {
    document.title = `${title} · Gatehouse`;
  }, [title]);

  let content: ComponentChildren;
  if (auth.status === 'loading' || path === '/') content = <Loading />;
  else if (!found) content = <NotFound />;
  else if (found.route.access === 'users:read' || found.route.access === 'audit:read') {
    content =
      signedIn && auth.permissions.has(found.route.access) ? (
        found.route.render(found.params, auth)
      ) : signedIn ? (
        <Forbidden />
      ) : (
        <Loading />
      );
  } else if (
    (found.route.access === 'signedIn' && !signedIn) ||
    (found.route.access === 'signedOut' && signedIn)
  ) {
    content = <Loading />;
  } else content = found.route.render(found.params, auth);

  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <Header auth={auth} path={path} />
      <Main key={path}>
        {auth.status === 'signedOut' && auth.reason && found?.route.access === 'signedOut' && (
          <Notice kind="info">{auth.reason}</Notice>
        )}
        {content}
      </Main>
    </>
  );
}

/** Only a console path (never another site) is a place to go after signing in. */
function safeNext(next: string | null): string {
  return next && /^\/[a-z]/.test(next) && !next.startsWith('//') ? next : '/account';
}

/** The page's main region; after a navigation the focus moves to it, as a page load would reset it. */
function Main(props: { children: ComponentChildren }) {
  const ref = useRef<HTMLElement>(null);
  useEffect(() => {
    if (document.activeElement && document.activeElement !== document.body) ref.current?.focus();
  }, []);
  return (
    <main id="main" ref={ref} tabIndex={-1} class="main">
      {props.children}
    </main>
  );
}

function Header(props: { auth: AuthState; path: string }) {
  const { auth, path } = props;
  const item = (to: string, label: string) => (
    <li>
      <Link to={to} current={path === to || (to !== '/account' && path.startsWith(`${to}/`))}>
        {label}
      </Link>
    </li>
  );
  return (
    <header class="header">
      <div class="header-inner">
        <Link to="/" class="brand">
          <img src="/console/favicon.svg" alt="" width="24" height="24" />
          <span>Gatehouse</span>
        </Link>
        {auth.status === 'signedIn' && (
          <>
            <nav aria-label="Main" class="nav">
              <ul>
                {item('/account', 'Account')}
                {item('/account/sessions', 'Sessions')}
                {item('/account/security', 'Security')}
                {auth.permissions.has('users:read') && item('/admin/users', 'Users')}
                {auth.permissions.has('audit:read') && item('/admin/audit', 'Audit')}
              </ul>
            </nav>
            <div class="header-user">
              <span class="header-email" title={auth.me.email}>
                {auth.me.email}
              </span>
              <SignOutButton />
            </div>
          </>
        )}
      </div>
    </header>
  );
}

function SignOutButton() {
  return (
    <Button
      variant="quiet"
      onClick={() => {
        void signOut().finally(() => navigate('/signin'));
      }}
    >
      Sign out
    </Button>
  );
}

function NotFound() {
  return (
    <section class="card narrow">
      <h1>Page not found</h1>
      <p>
        There is nothing at this address. <Link to="/">Go to the start</Link>.
      </p>
    </section>
  );
}

function Forbidden() {
  return (
    <section class="card narrow">
      <h1>Not allowed</h1>
      <p>Your account does not have the permission this page needs.</p>
      <p>
        <Link to="/account">Back to your account</Link>
      </p>
    </section>
  );
}
