-- Every change that can end an access token's validity (a session revoked or
-- deleted; a user's roles, disabled flag or existence) notifies the channel
-- gatehouse_auth when its transaction commits. Instances sharing the database
-- LISTEN and drop what they cached. Done by triggers, so that no code path —
-- the service, the command line, or SQL typed by hand — can forget it.
CREATE OR REPLACE FUNCTION gatehouse_notify_session_change() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('gatehouse_auth', json_build_object('session', OLD.id)::text);
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER sessions_notify_auth_change
  AFTER UPDATE OF revoked_at, expires_at, user_id OR DELETE ON sessions
  FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_session_change();
--> statement-breakpoint
CREATE OR REPLACE FUNCTION gatehouse_notify_user_change() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('gatehouse_auth', json_build_object('user', OLD.id)::text);
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER users_notify_auth_change
  AFTER UPDATE OF roles, disabled_at OR DELETE ON users
  FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_user_change();
