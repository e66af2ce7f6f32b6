-- The same as the slice schema's migration 0009_broadcast_audience.sql (why: there), for the
-- queue in a database of its own: a broadcast's recipients kept as its audience until a claim
-- turns them into tasks, and the tasks' narrower index for pause, resume and cancel.
CREATE TABLE broadcast_audience (
  broadcast_id bigint NOT NULL REFERENCES broadcasts (id),
  part         integer NOT NULL,
  recipients   text[] NOT NULL CHECK (cardinality(recipients) > 0),
  taken        integer NOT NULL DEFAULT 0,
  PRIMARY KEY (broadcast_id, part),
  CHECK (taken >= 0 AND taken < cardinality(recipients))
);

-- outbound_broadcast and outbound_paused replaced by one index, as there (why: there).
DROP INDEX outbound_broadcast;
DROP INDEX outbound_paused;
CREATE INDEX outbound_held ON outbound_tasks (broadcast_id) WHERE state IN ('pending', 'paused');
