-- The gateway schema: people, sessions, slices and their lifecycle (SPEC §7.1, §7.3).
CREATE TABLE users (
  id            bigserial PRIMARY KEY,
  email         text NOT NULL,
  password_hash text NOT NULL,
  role          text NOT NULL DEFAULT 'tenant' CHECK (role IN ('tenant', 'admin')),
  status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email ON users (lower(email));

CREATE TABLE sessions (
  token_hash   bytea PRIMARY KEY,            -- SHA-256 of the 256-bit token; the token itself is never stored
  user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,         -- rolling: pushed forward as the session is used
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  ip           text NOT NULL DEFAULT '',
  user_agent   text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE password_resets (
  token_hash bytea PRIMARY KEY,
  user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  expires_at timestamptz NOT NULL,
  used_at    timestamptz
);

-- Mail waiting for the mailer (password resets now; dunning and alerts later).
CREATE TABLE outbox_emails (
  id         bigserial PRIMARY KEY,
  to_address text NOT NULL,
  subject    text NOT NULL,
  body       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at    timestamptz
);

CREATE TABLE slices (
  id                  bigserial PRIMARY KEY,
  state               text NOT NULL CHECK (state IN ('provisioning', 'available', 'assigned', 'suspended',
                                                     'destroying', 'destroyed')),
  user_id             bigint REFERENCES users (id) ON DELETE SET NULL,
  endpoint            text NOT NULL DEFAULT '',       -- where the slice serves: unix:/…/http.sock
  health              text NOT NULL DEFAULT 'unknown' CHECK (health IN ('unknown', 'healthy', 'restarting',
                                                                          'crashloop', 'stopped')),
  pid                 integer,
  restarts            integer NOT NULL DEFAULT 0,
  memory_limit_bytes  bigint NOT NULL DEFAULT 0,
  limit_mechanism     text NOT NULL DEFAULT '',
  storage_bytes       bigint NOT NULL DEFAULT 0,
  storage_quota_bytes bigint NOT NULL,
  storage_checked_at  timestamptz,
  last_error          text NOT NULL DEFAULT '',
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);
-- A person has at most one live slice.
CREATE UNIQUE INDEX slices_user ON slices (user_id) WHERE state NOT IN ('destroying', 'destroyed');
CREATE INDEX slices_state ON slices (state);

CREATE TABLE slice_events (
  id         bigserial PRIMARY KEY,
  slice_id   bigint NOT NULL REFERENCES slices (id),
  from_state text,
  to_state   text NOT NULL,
  reason     text NOT NULL DEFAULT '',
  at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX slice_events_slice ON slice_events (slice_id, id);
