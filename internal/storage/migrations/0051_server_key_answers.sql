-- Each of another server's keys with the last signed answer of its
-- /_matrix/key/v2/server (or of a notary) that listed it, which this server
-- serves again, with its own signature added, as a notary. One answer per
-- key rather than per server: an answer that no longer lists a key must
-- not hide the last one that did, or notary clients asking for that key
-- would get an answer without it.
CREATE TABLE server_key_answers (
    server_name    TEXT NOT NULL,
    key_id         TEXT NOT NULL,
    response       TEXT NOT NULL,
    valid_until_ts BIGINT NOT NULL,
    fetched_ts     BIGINT NOT NULL,
    PRIMARY KEY (server_name, key_id)
);

-- A server's one stored answer listed the keys stored with the same fetch
-- time; keys from earlier answers have no answer left to serve.
INSERT INTO server_key_answers (server_name, key_id, response, valid_until_ts, fetched_ts)
SELECT k.server_name, k.key_id, r.response, r.valid_until_ts, r.fetched_ts
FROM server_keys k
JOIN server_key_responses r ON r.server_name = k.server_name AND r.fetched_ts = k.fetched_ts;

DROP TABLE server_key_responses;
