-- Changes no row trigger sees must still reach every instance's cache of
-- session and user state (and of signing keys):
-- - TRUNCATE fires no row trigger: a statement trigger notifies, and every
--   instance drops its whole cache ({"truncated": <table>});
-- - with session_replication_role = replica (logical-replication apply,
--   restore tools) ordinary triggers do not fire: the notify triggers are
--   marked ENABLE ALWAYS.
-- Whatever is missed nonetheless is bounded by SESSION_CACHE_TTL.
CREATE OR REPLACE FUNCTION gatehouse_notify_truncate() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify(TG_ARGV[0], json_build_object('truncated', TG_TABLE_NAME)::text);
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER sessions_notify_auth_truncate
  AFTER TRUNCATE ON sessions
  FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_truncate('gatehouse_auth');
--> statement-breakpoint
CREATE TRIGGER users_notify_auth_truncate
  AFTER TRUNCATE ON users
  FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_truncate('gatehouse_auth');
--> statement-breakpoint
CREATE TRIGGER signing_keys_notify_truncate
  AFTER TRUNCATE ON signing_keys
  FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_truncate('gatehouse_keys');
--> statement-breakpoint
ALTER TABLE sessions ENABLE ALWAYS TRIGGER sessions_notify_auth_change;
--> statement-breakpoint
ALTER TABLE sessions ENABLE ALWAYS TRIGGER sessions_notify_auth_truncate;
--> statement-breakpoint
ALTER TABLE users ENABLE ALWAYS TRIGGER users_notify_auth_change;
--> statement-breakpoint
ALTER TABLE users ENABLE ALWAYS TRIGGER users_notify_auth_truncate;
--> statement-breakpoint
ALTER TABLE signing_keys ENABLE ALWAYS TRIGGER signing_keys_notify_change;
--> statement-breakpoint
ALTER TABLE signing_keys ENABLE ALWAYS TRIGGER signing_keys_notify_truncate;
