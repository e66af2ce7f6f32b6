-- A broadcast's recipients kept as its audience until they are sent, not as one pending task each
-- (docs/architecture.md, "Messaging"), and a narrower index for the tasks (at the end). The
-- enqueue writes a row per 1,000 recipients (a text array, TOASTed and compressed) instead of
-- 1,000 task rows with their index entries; a claim (store.cpp Claim) turns the next recipients
-- of the oldest running broadcast into tasks already `claimed` or `sending` under its lease, in
-- the transaction that moves `taken` on (or deletes the finished row). So a broadcast's task row
-- is written once, when it is sent, instead of written pending and then updated to sending: one
-- row version and its index entries fewer per message, and pending recipients cost ~5-10 bytes
-- each instead of ~100 (docs/benchmarks.md, "Outbound queue").
--   recipients  E.164 numbers, in the order they were given
--   taken       how many of them are tasks already (0 ≤ taken < cardinality(recipients))
-- The queue depth and the broadcast's tasks_queued count the audience too: the enqueue adds its
-- recipients, a claim moves them to tasks without changing either (the insert tells the counting
-- trigger so, as the enqueue's COPY did: 0008_enqueue_counts_itself.sql), a cancel subtracts
-- what was left. Tasks queued before this migration stay pending tasks and are claimed as before.
-- Emptying a queue by hand means TRUNCATE outbound_tasks, broadcast_audience (the truncate
-- trigger zeroes the counters).
CREATE TABLE broadcast_audience (
  broadcast_id bigint NOT NULL REFERENCES broadcasts (id),
  part         integer NOT NULL,
  recipients   text[] NOT NULL CHECK (cardinality(recipients) > 0),
  taken        integer NOT NULL DEFAULT 0,
  PRIMARY KEY (broadcast_id, part),
  CHECK (taken >= 0 AND taken < cardinality(recipients))
);

-- With progress read from the counters (0005_broadcast_progress.sql) and a broadcast's recipients
-- pending here instead of as tasks, a broadcast's tasks are looked up by broadcast only to pause,
-- resume or cancel the ones not yet claimed: pending (retries) or paused. One index for those,
-- instead of outbound_broadcast (every task of every broadcast, keyed on its state: an entry
-- written again by each status a task went through) and outbound_paused. A message now writes 3
-- index entries instead of 6: its insert, outbound_sending; its `sent`, outbound_provider; its
-- `delivered`, outbound_provider again (a new row version is a new entry in every index whose
-- predicate it meets).
DROP INDEX outbound_broadcast;
DROP INDEX outbound_paused;
CREATE INDEX outbound_held ON outbound_tasks (broadcast_id) WHERE state IN ('pending', 'paused');
