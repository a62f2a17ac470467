-- Media of other servers fetched over federation and kept here: one row
-- per mxc://origin/media_id, its bytes in the content store like local
-- media (shared by sha256). A row is written only once the whole content
-- is stored, so a cut-off fetch leaves no row.
CREATE TABLE remote_media (
    origin       TEXT NOT NULL,   -- the other server, as in the mxc:// URI
    media_id     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    upload_name  TEXT,            -- the filename the origin gave, may be NULL
    sha256       TEXT NOT NULL,
    size_bytes   BIGINT NOT NULL,
    fetched_ts   BIGINT NOT NULL,
    PRIMARY KEY (origin, media_id)
);
CREATE INDEX remote_media_sha256 ON remote_media (sha256);

-- Thumbnails of remote media: fetched from the origin, or made here from
-- the cached original, by standard size box. No foreign key: a thumbnail
-- may be fetched while the original is not cached.
CREATE TABLE remote_media_thumbnails (
    origin        TEXT NOT NULL,
    media_id      TEXT NOT NULL,
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    method        TEXT NOT NULL,    -- crop | scale
    content_type  TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    actual_width  INTEGER NOT NULL, -- 0 when fetched (the origin does not say)
    actual_height INTEGER NOT NULL,
    created_ts    BIGINT NOT NULL,
    PRIMARY KEY (origin, media_id, width, height, method)
);
CREATE INDEX remote_media_thumbnails_sha256 ON remote_media_thumbnails (sha256);
