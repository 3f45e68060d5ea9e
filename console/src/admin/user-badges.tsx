/** A user's state at a glance. */
export function UserBadges(props: {
  user: { disabled: boolean; mfaEnabled: boolean; emailVerified: boolean };
}) {
  const { user } = props;
  return (
    <span class="badges">
      {user.disabled ? (
        <span class="badge badge-danger">Disabled</span>
      ) : (
        <span class="badge badge-success">Active</span>
      )}
      {user.mfaEnabled && <span class="badge">2FA</span>}
      {!user.emailVerified && <span class="badge badge-warning">Unverified</span>}
    </span>
  );
}
