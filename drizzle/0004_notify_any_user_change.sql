-- Instances also cache what /users/me shows (email, timestamps), so any change
-- to a user row notifies, not only roles and the disabled flag.
DROP TRIGGER IF EXISTS users_notify_auth_change ON users;
--> statement-breakpoint
CREATE TRIGGER users_notify_auth_change
  AFTER UPDATE OR DELETE ON users
  FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_user_change();
