-- Service clients (client credentials, introspection) and the revocation feed. Tables by drizzle-kit; triggers below.
CREATE TABLE "revocation_events" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "revocation_events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"session_id" uuid,
	"subject" uuid NOT NULL,
	"reason" text NOT NULL,
	"roles" text[],
	"revoked_at" timestamp (3) with time zone DEFAULT clock_timestamp() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "service_clients" (
	"id" uuid PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"secret_hash" "bytea" NOT NULL,
	"scopes" text[] NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "revocation_events_revoked_at_idx" ON "revocation_events" USING btree ("revoked_at");--> statement-breakpoint
CREATE INDEX "service_clients_created_at_id_idx" ON "service_clients" USING btree ("created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
-- The revocation feed is written by triggers, so that no path — the service, the command line, or
-- SQL typed by hand — can end a session, change a user's roles or delete a client without an event.
-- A session: revoked (revoked_at set), or deleted while live (a user's deletion cascades here).
CREATE OR REPLACE FUNCTION gatehouse_record_session_revocation() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL THEN
      INSERT INTO revocation_events (session_id, subject, reason)
        VALUES (NEW.id, NEW.user_id, coalesce(NEW.revoked_reason, 'revoked'));
    END IF;
  ELSIF OLD.revoked_at IS NULL AND OLD.expires_at > now() THEN
    INSERT INTO revocation_events (session_id, subject, reason)
      VALUES (OLD.id, OLD.user_id,
              CASE WHEN EXISTS (SELECT 1 FROM users WHERE id = OLD.user_id)
                   THEN 'session_deleted' ELSE 'user_deleted' END);
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER sessions_record_revocation
  AFTER UPDATE OF revoked_at OR DELETE ON sessions
  FOR EACH ROW EXECUTE FUNCTION gatehouse_record_session_revocation();
--> statement-breakpoint
-- A user: roles changed (the tokens' `roles` claim is stale: one event per live session, with the
-- roles now), or disabled (one event per session still live, should no revocation have come first).
CREATE OR REPLACE FUNCTION gatehouse_record_user_revocation() RETURNS trigger AS $$
BEGIN
  IF OLD.roles IS DISTINCT FROM NEW.roles THEN
    INSERT INTO revocation_events (session_id, subject, reason, roles)
      SELECT id, user_id, 'roles_changed', NEW.roles FROM sessions
        WHERE user_id = NEW.id AND revoked_at IS NULL AND expires_at > now();
  END IF;
  IF OLD.disabled_at IS NULL AND NEW.disabled_at IS NOT NULL THEN
    INSERT INTO revocation_events (session_id, subject, reason)
      SELECT id, user_id, 'user_disabled' FROM sessions
        WHERE user_id = NEW.id AND revoked_at IS NULL AND expires_at > now();
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER users_record_revocation
  AFTER UPDATE OF roles, disabled_at ON users
  FOR EACH ROW EXECUTE FUNCTION gatehouse_record_user_revocation();
--> statement-breakpoint
CREATE OR REPLACE FUNCTION gatehouse_record_client_deletion() RETURNS trigger AS $$
BEGIN
  INSERT INTO revocation_events (session_id, subject, reason) VALUES (NULL, OLD.id, 'client_deleted');
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER service_clients_record_deletion
  AFTER DELETE ON service_clients
  FOR EACH ROW EXECUTE FUNCTION gatehouse_record_client_deletion();
--> statement-breakpoint
-- Every event reaches every instance's streams at commit, whoever wrote it.
CREATE OR REPLACE FUNCTION gatehouse_notify_revocation() RETURNS trigger AS $$
BEGIN
  PERFORM pg_notify('gatehouse_revocations', json_build_object(
    'id', NEW.id, 'sid', NEW.session_id, 'sub', NEW.subject, 'reason', NEW.reason,
    'roles', NEW.roles, 'revokedAt', to_char(NEW.revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
  )::text);
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER revocation_events_notify
  AFTER INSERT ON revocation_events
  FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_revocation();
--> statement-breakpoint
-- As the auth-change triggers (0010): also under session_replication_role = replica.
ALTER TABLE sessions ENABLE ALWAYS TRIGGER sessions_record_revocation;
--> statement-breakpoint
ALTER TABLE users ENABLE ALWAYS TRIGGER users_record_revocation;
--> statement-breakpoint
ALTER TABLE service_clients ENABLE ALWAYS TRIGGER service_clients_record_deletion;
--> statement-breakpoint
ALTER TABLE revocation_events ENABLE ALWAYS TRIGGER revocation_events_notify;
