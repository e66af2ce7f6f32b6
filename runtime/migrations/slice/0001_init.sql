-- A slice's CRM data (runs with search_path = slice_<id>, as the slice's own role).
CREATE TABLE contacts (
  id         bigserial PRIMARY KEY,
  name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  phone      text NOT NULL UNIQUE CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
  tags       text[] NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contacts_tags ON contacts USING gin (tags);
CREATE INDEX contacts_name ON contacts (lower(name));

CREATE TABLE conversations (
  id              bigserial PRIMARY KEY,
  contact_id      bigint NOT NULL UNIQUE REFERENCES contacts (id) ON DELETE CASCADE,
  last_message_at timestamptz,
  unread          integer NOT NULL DEFAULT 0,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_recent ON conversations (last_message_at DESC NULLS LAST, id DESC);

CREATE TABLE messages (
  id              bigserial PRIMARY KEY,
  conversation_id bigint NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  direction       text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
  body            text NOT NULL CHECK (length(body) BETWEEN 1 AND 4096),
  status          text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'delivered', 'read',
                                                                    'failed', 'received')),
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_conversation ON messages (conversation_id, id);
