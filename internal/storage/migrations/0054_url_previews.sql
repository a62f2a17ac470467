-- URL previews (GET /media/preview_url) answered from here until they
-- expire, so a link many clients show is fetched once per period and a
-- restart forgets nothing. One row per URL: the newest preview.
CREATE TABLE url_previews (
    url_hash   TEXT PRIMARY KEY, -- hex SHA-256 of url: URLs may be longer than an index entry
    url        TEXT NOT NULL,    -- the URL previewed, without its fragment
    og_json    TEXT NOT NULL,    -- the answer, a JSON object
    fetched_ts BIGINT NOT NULL,
    expires_ts BIGINT NOT NULL
);
CREATE INDEX url_previews_expires ON url_previews (expires_ts);
