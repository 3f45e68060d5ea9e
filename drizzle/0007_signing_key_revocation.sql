ALTER TABLE "signing_keys" ADD COLUMN "revoked_at" timestamp with time zone;
--> statement-breakpoint
-- Every change to a signing key (a rotation's new key, a revocation, a row
-- deleted by hand) notifies the channel gatehouse_keys when its transaction
-- commits, so that every instance re-reads its keys at once instead of at its
-- next reload: a revoked key stops verifying and being published everywhere
-- within a round trip. "gone" says the key must be dropped without waiting for
-- the reload (revoked or deleted).
CREATE OR REPLACE FUNCTION gatehouse_notify_key_change() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('gatehouse_keys', json_build_object('kid', OLD.kid, 'gone', true)::text);
  ELSE
    PERFORM pg_notify('gatehouse_keys',
      json_build_object('kid', NEW.kid, 'gone', NEW.revoked_at IS NOT NULL)::text);
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER signing_keys_notify_change
  AFTER INSERT OR UPDATE OR DELETE ON signing_keys
  FOR EACH ROW EXECUTE FUNCTION gatehouse_notify_key_change();
