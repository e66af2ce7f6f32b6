-- Messaging (SPEC §7.4–7.5): the WhatsApp channel's state, provider ids on messages, and the
-- outbound queue (broadcasts and their tasks, one task per recipient) with its dispatcher lease.
ALTER TABLE messages ADD COLUMN provider_id text;   -- WhatsApp's message id (wamid)
ALTER TABLE messages ADD COLUMN error text;
CREATE UNIQUE INDEX messages_provider ON messages (provider_id) WHERE provider_id IS NOT NULL;

CREATE TABLE broadcasts (
  id          bigserial PRIMARY KEY,
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 4096),
  -- {"name", "language", "parameters"}: an approved template the Cloud API sends instead of the
  -- free text (which the inbox and the simulator show); needed outside the 24-hour window.
  template    jsonb,
  status      text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'paused', 'cancelled', 'completed')),
  total       integer NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);

-- One send: a broadcast's recipient, or a message typed in the inbox (message_id).
-- Its idempotency key is "<slice id>-<task id>": stable across attempts, unique per slice.
-- pending → claimed (reserved under the lease) → sending (committed just before its send) → sent
-- → delivered → read;
-- → pending again (retry, not_before in the future) or failed (dead letter, or refused);
-- paused / cancelled follow the broadcast.
CREATE TABLE outbound_tasks (
  id           bigserial PRIMARY KEY,
  -- broadcasts (id), without a foreign key: checking it row by row doubled the time to COPY a
  -- 100k-recipient broadcast; the broadcast row is inserted in the same transaction, and
  -- broadcasts are never deleted (cancel keeps them and their counts).
  broadcast_id bigint,
  message_id   bigint REFERENCES messages (id) ON DELETE CASCADE,
  recipient    text NOT NULL,
  state        text NOT NULL DEFAULT 'pending'
               CHECK (state IN ('pending', 'claimed', 'sending', 'sent', 'delivered', 'read', 'failed', 'paused',
                                'cancelled')),
  attempts     smallint NOT NULL DEFAULT 0,
  not_before   timestamptz NOT NULL DEFAULT now(),
  lease_epoch  bigint,
  provider_id  text,
  last_error   text,
  CHECK ((broadcast_id IS NULL) <> (message_id IS NULL))
);
CREATE INDEX outbound_due ON outbound_tasks (not_before, id) WHERE state = 'pending';
CREATE INDEX outbound_sending ON outbound_tasks (id) WHERE state IN ('claimed', 'sending');
CREATE INDEX outbound_broadcast ON outbound_tasks (broadcast_id, state) WHERE broadcast_id IS NOT NULL;
CREATE INDEX outbound_paused ON outbound_tasks (broadcast_id) WHERE state = 'paused';
CREATE UNIQUE INDEX outbound_provider ON outbound_tasks (provider_id) WHERE provider_id IS NOT NULL;

-- Delivery statuses only move forward: sent < delivered < read; failed ends a task that was not read.
CREATE FUNCTION status_rank(status text) RETURNS integer IMMUTABLE LANGUAGE sql AS $$
  SELECT CASE status WHEN 'queued' THEN 0 WHEN 'pending' THEN 0 WHEN 'claimed' THEN 1 WHEN 'sending' THEN 1 WHEN 'sent' THEN 2
                     WHEN 'delivered' THEN 3 WHEN 'read' THEN 4 ELSE 9 END
$$;

-- Statuses that arrived before the send they describe was recorded (the webhook can be faster
-- than our own commit); applied when it is.
CREATE TABLE early_statuses (
  provider_id text PRIMARY KEY,
  status      text NOT NULL,
  error       text,
  at          timestamptz NOT NULL DEFAULT now()
);

-- One dispatcher at a time sends this slice's queue: the holder renews expires_at; a new holder
-- takes over only after it passed, with epoch + 1 (its fencing token).
CREATE TABLE dispatcher_lease (
  id         boolean PRIMARY KEY DEFAULT true CHECK (id),
  holder     text NOT NULL,
  epoch      bigint NOT NULL,
  expires_at timestamptz NOT NULL
);

-- The slice's WhatsApp connection as the channel last reported it (the simulator's pairing).
CREATE TABLE channel_state (
  id         boolean PRIMARY KEY DEFAULT true CHECK (id),
  kind       text NOT NULL,
  state      text NOT NULL,
  qr         text NOT NULL DEFAULT '',
  phone      text NOT NULL DEFAULT '',
  settings   jsonb NOT NULL DEFAULT '{}',      -- the simulator's latency and rates, as last set
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- The simulator's side of the wire ("what WhatsApp received"), written by the simulator in its
-- own transaction before it answers a send: a task delivered twice shows as deliveries > 1.
-- final_status is what the simulated recipient will do; acked_status what the slice has taken in.
CREATE TABLE simulator_deliveries (
  idempotency_key text PRIMARY KEY,
  provider_id     text NOT NULL,
  recipient       text NOT NULL,
  deliveries      integer NOT NULL DEFAULT 1,
  final_status    text NOT NULL,
  acked_status    text NOT NULL DEFAULT 'sent',
  first_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX simulator_unacked ON simulator_deliveries (idempotency_key) WHERE acked_status <> final_status;
