-- Billing with Stripe (docs/operations.md, "Billing"): each account's subscription, the Stripe
-- events seen (an event id is stored in the transaction that applies it: exactly once), the
-- durable timers of the policy, and failed payments for the revenue page.
CREATE TABLE subscriptions (
  user_id                bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  stripe_customer_id     text UNIQUE,
  stripe_subscription_id text,
  status                 text NOT NULL DEFAULT 'none' CHECK (status IN
                           ('none', 'trialing', 'active', 'past_due', 'suspended', 'canceled')),
  current_period_end     timestamptz,
  grace_ends_at          timestamptz,
  trial_ends_at          timestamptz,
  canceled_at            timestamptz,
  data_deleted_at        timestamptz,
  started_at             timestamptz,  -- first paid: churn counts from here
  cancel_at_period_end   boolean NOT NULL DEFAULT false,
  last_event_created     timestamptz,  -- an older event is replaced by a re-read of Stripe's state
  updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_subscription ON subscriptions (stripe_subscription_id);

CREATE TABLE billing_events (
  id          text PRIMARY KEY,  -- Stripe's evt_…
  type        text NOT NULL,
  created     timestamptz NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  applied_at  timestamptz,
  user_id     bigint,
  outcome     text NOT NULL DEFAULT ''
);

CREATE TABLE billing_jobs (
  id         bigserial PRIMARY KEY,
  kind       text NOT NULL,  -- grace_expiry, retention_expiry, trial_expiry, slice_sync
  user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  run_at     timestamptz NOT NULL,
  done_at    timestamptz,
  attempts   integer NOT NULL DEFAULT 0,
  last_error text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX billing_jobs_due ON billing_jobs (run_at, id) WHERE done_at IS NULL;

CREATE TABLE billing_failed_payments (
  id           bigserial PRIMARY KEY,
  user_id      bigint REFERENCES users (id) ON DELETE SET NULL,
  event_id     text NOT NULL UNIQUE,
  amount_cents bigint NOT NULL DEFAULT 0,
  created      timestamptz NOT NULL
);
CREATE INDEX billing_failed_payments_created ON billing_failed_payments (created);
