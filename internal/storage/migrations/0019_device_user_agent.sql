-- The user agent a device was last seen with, for /admin/whois.
ALTER TABLE devices ADD COLUMN last_seen_user_agent TEXT;
