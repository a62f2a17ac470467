-- Media repository: one row per mxc:// URI, and the generated thumbnails.
-- The bytes themselves live in the content store (<data_dir>/media/ab/cd/
-- <sha256>), shared by every row with the same sha256.
CREATE TABLE media (
    origin       TEXT NOT NULL,   -- the server name in the mxc:// URI
    media_id     TEXT NOT NULL,
    user_id      TEXT NOT NULL,   -- the uploader
    content_type TEXT,            -- NULL while an asynchronous upload is pending
    upload_name  TEXT,
    sha256       TEXT,            -- NULL while pending
    size_bytes   BIGINT,
    created_ts   BIGINT NOT NULL, -- when the ID was made
    uploaded_ts  BIGINT,          -- when the content arrived; NULL while pending
    expires_ts   BIGINT,          -- a pending ID unused by then is void
    PRIMARY KEY (origin, media_id)
);
CREATE INDEX media_sha256 ON media (sha256);
CREATE INDEX media_pending ON media (user_id, uploaded_ts, expires_ts);

CREATE TABLE media_thumbnails (
    origin        TEXT NOT NULL,
    media_id      TEXT NOT NULL,
    width         INTEGER NOT NULL, -- the standard size box it was made for
    height        INTEGER NOT NULL,
    method        TEXT NOT NULL,    -- crop | scale
    content_type  TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    actual_width  INTEGER NOT NULL,
    actual_height INTEGER NOT NULL,
    created_ts    BIGINT NOT NULL,
    PRIMARY KEY (origin, media_id, width, height, method),
    FOREIGN KEY (origin, media_id) REFERENCES media (origin, media_id)
);
CREATE INDEX media_thumbnails_sha256 ON media_thumbnails (sha256);
