-- The wa-web channel (docs/wa-web.md): a slice may pair its own number through a WhatsApp Web
-- sidecar, with the engine it runs (NULL = the deployment's CRM_WA_WEB_ENGINE).
ALTER TABLE slices DROP CONSTRAINT slices_channel_check;
ALTER TABLE slices ADD CONSTRAINT slices_channel_check
  CHECK (channel IN ('', 'simulator', 'cloud-api', 'wa-web'));
ALTER TABLE slices ADD COLUMN engine text CHECK (engine IN ('noweb', 'webjs'));
