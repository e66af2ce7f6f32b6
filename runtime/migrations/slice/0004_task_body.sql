-- The queue ready to live in a database of its own (QUEUE_DATABASE_URL; docs/architecture.md,
-- "The queue database"): nothing the dispatcher reads joins the slice's CRM tables any more.

-- An inbox message's task carries its text (a broadcast's tasks read their broadcast's), so a
-- claim needs no join with messages. Tasks still to be sent take it from their message now.
ALTER TABLE outbound_tasks ADD COLUMN body text;
UPDATE outbound_tasks t SET body = m.body FROM messages m
  WHERE m.id = t.message_id AND t.state IN ('pending', 'claimed', 'sending', 'paused');

-- At most one task per inbox message: queueing it again (the repair below, racing the request
-- that queued it) changes nothing. Partial: broadcast tasks pay nothing for it.
CREATE UNIQUE INDEX outbound_message ON outbound_tasks (message_id) WHERE message_id IS NOT NULL;

-- Outbound messages still queued. With the queue in another database a message is committed
-- before its task; the dispatcher looks here for one a crash left without its task
-- (store.cpp RequeueOrphanMessages). Few rows: a message leaves it once sent.
CREATE INDEX messages_queued ON messages (id) WHERE status = 'queued' AND direction = 'outbound';
