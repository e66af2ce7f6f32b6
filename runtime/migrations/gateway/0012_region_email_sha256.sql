-- Region pinning (docs/operations.md, "Regions"): another region's gateway asks whether an
-- account lives here by the SHA-256 of its lower-cased address, never the address itself.
-- convert_to is only STABLE (it reads the encoding names), but with both encodings fixed the
-- result never changes, so the wrapper may be IMMUTABLE and indexed.
CREATE FUNCTION email_sha256(email text) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN encode(sha256(convert_to(lower(email), 'UTF8')), 'hex');
CREATE INDEX users_email_sha256 ON users (email_sha256(email));
