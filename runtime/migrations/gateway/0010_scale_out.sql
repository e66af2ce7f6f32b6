-- Scale-out (docs/architecture.md, "Scale-out: gateways and slice hosts"): slice hosts own tenant
-- hash ranges under leases, gateways share their caches' invalidations and the login limits.

-- A slice's process runs the generation asked for; bumping it restarts the process wherever it
-- runs (a new channel, a rolling restart). running_generation is what its host last started.
ALTER TABLE slices ADD COLUMN generation bigint NOT NULL DEFAULT 0,
                   ADD COLUMN running_generation bigint NOT NULL DEFAULT 0;

-- One row per configured range of the tenant hash space (buckets from..to-1 of 100): the host
-- whose range it is (home), the host serving it now (holder, the home or a survivor that adopted
-- it after the lease expired), where that host serves, and a home that came back and wants it.
CREATE TABLE shard_leases (
  range_from integer NOT NULL CHECK (range_from >= 0 AND range_from < 100),
  range_to   integer NOT NULL CHECK (range_to > range_from AND range_to <= 100),
  home       text NOT NULL,
  holder     text NOT NULL,
  address    text NOT NULL,
  expires_at timestamptz NOT NULL,
  wanted_by  text,
  PRIMARY KEY (range_from, range_to)
);

-- Sign-in and sign-up attempts per client address, shared by every gateway (a fixed window).
CREATE TABLE rate_limits (
  kind         text NOT NULL,
  key          text NOT NULL,
  window_start timestamptz NOT NULL,
  attempts     integer NOT NULL,
  PRIMARY KEY (kind, key)
);
CREATE INDEX rate_limits_window ON rate_limits (window_start);

-- Every gateway caches sessions (with the caller's slice and where it is served) for a few
-- seconds; these say when a cached entry is wrong, whoever made the change.
CREATE FUNCTION notify_session_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('crm_gateway', 'session:' || encode(OLD.token_hash, 'hex'));
  RETURN NULL;
END $$;
CREATE TRIGGER sessions_gone AFTER DELETE ON sessions
  FOR EACH ROW EXECUTE FUNCTION notify_session_gone();

CREATE FUNCTION notify_user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('crm_gateway', 'user:' || NEW.id);
  RETURN NULL;
END $$;
CREATE TRIGGER users_changed AFTER UPDATE OF status, role, email ON users
  FOR EACH ROW EXECUTE FUNCTION notify_user_changed();

-- Slice hosts listen on crm_slices (start, stop, restart what they serve); gateways on
-- crm_gateway (forget the cached route).
CREATE FUNCTION notify_slice_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('crm_slices', NEW.id::text);
  PERFORM pg_notify('crm_gateway', 'slice:' || NEW.id);
  RETURN NULL;
END $$;
CREATE TRIGGER slices_added AFTER INSERT ON slices
  FOR EACH ROW EXECUTE FUNCTION notify_slice_changed();
-- Only what placement and routing depend on: health and storage updates stay quiet.
CREATE TRIGGER slices_changed AFTER UPDATE ON slices
  FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.endpoint IS DISTINCT FROM NEW.endpoint
                     OR OLD.generation IS DISTINCT FROM NEW.generation
                     OR OLD.user_id IS DISTINCT FROM NEW.user_id)
  EXECUTE FUNCTION notify_slice_changed();
