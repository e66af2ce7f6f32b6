-- Each slice's WhatsApp channel (SPEC §7.4): the simulator by default (empty = the gateway's
-- CRM_CHANNEL), or Meta's Cloud API with the phone number id its webhooks are routed by.
ALTER TABLE slices ADD COLUMN channel text NOT NULL DEFAULT '' CHECK (channel IN ('', 'simulator', 'cloud-api'));
ALTER TABLE slices ADD COLUMN phone_number_id text CHECK (phone_number_id ~ '^[0-9]{1,32}$');
-- A number belongs to one live slice.
CREATE UNIQUE INDEX slices_phone_number ON slices (phone_number_id)
  WHERE phone_number_id IS NOT NULL AND state NOT IN ('destroying', 'destroyed');
