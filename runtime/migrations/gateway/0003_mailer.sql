-- The mailer (docs/operations.md, "Mail"): a mail names a template (templates/mail/) and its
-- parameters; rows from before keep their subject and body and are sent as they are. Each row
-- records its tries: a failed one waits until next_attempt_at, the last one sets dead_at.
ALTER TABLE outbox_emails
  ALTER COLUMN subject SET DEFAULT '',
  ALTER COLUMN body SET DEFAULT '',
  ADD COLUMN template        text,
  ADD COLUMN params          jsonb NOT NULL DEFAULT '{}',
  ADD COLUMN attempts        integer NOT NULL DEFAULT 0,
  ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
  ADD COLUMN last_error      text NOT NULL DEFAULT '',
  ADD COLUMN dead_at         timestamptz;
-- What the mailers look for: rows neither sent nor dead, by when they are due.
CREATE INDEX outbox_emails_due ON outbox_emails (next_attempt_at, id)
  WHERE sent_at IS NULL AND dead_at IS NULL;
