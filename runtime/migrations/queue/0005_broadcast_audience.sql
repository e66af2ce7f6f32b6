-- The same as the slice schema's migration 0009_broadcast_audience.sql (why: there), for the
-- queue in a database of its own: a broadcast's recipients kept as its audience until a claim
-- turns them into tasks.
CREATE TABLE broadcast_audience (
  broadcast_id bigint NOT NULL REFERENCES broadcasts (id),
  part         integer NOT NULL,
  recipients   text[] NOT NULL CHECK (cardinality(recipients) > 0),
  taken        integer NOT NULL DEFAULT 0,
  PRIMARY KEY (broadcast_id, part),
  CHECK (taken >= 0 AND taken < cardinality(recipients))
);
