-- Catalog: tracks, their fingerprints and the catalog revision (airtrack.catalog).

-- name: catalog_track_by_sha
SELECT t.id, p.engine
FROM tracks t
LEFT JOIN track_prints p ON p.track_id = t.id
WHERE t.content_sha256 = %(sha)s;

-- name: catalog_insert_track
INSERT INTO tracks (title, artist, source, duration_s, content_sha256)
VALUES (%(title)s, %(artist)s, %(source)s, %(duration_s)s, %(sha)s)
ON CONFLICT (content_sha256) DO NOTHING
RETURNING id;

-- name: catalog_put_prints
INSERT INTO track_prints (track_id, engine, prints)
VALUES (%(track_id)s, %(engine)s, %(prints)s)
ON CONFLICT (track_id) DO UPDATE SET engine = EXCLUDED.engine, prints = EXCLUDED.prints;

-- name: catalog_bump_revision
-- emits catalog.changed in the same transaction (events.sql)
SELECT airtrack_catalog_bump() AS revision;

-- name: catalog_state
SELECT revision, changed_at FROM catalog_state WHERE id;

-- name: catalog_list
SELECT id, title, artist, source, duration_s, added_at
FROM tracks
ORDER BY id;

-- name: catalog_delete_track
DELETE FROM tracks WHERE id = %(id)s
RETURNING id, title, artist, source;

-- name: catalog_tracks_by_ids
SELECT id, title, artist, source, duration_s
FROM tracks
WHERE id = ANY(%(ids)s);

-- name: catalog_count_stale_prints
-- tracks the current engine cannot use (no prints, or prints of another engine version)
SELECT count(*) AS n
FROM tracks t
LEFT JOIN track_prints p ON p.track_id = t.id
WHERE p.track_id IS NULL OR p.engine <> %(engine)s;

-- name: catalog_prints_after
-- keyset pagination: one batch of fingerprints after track id %(after)s
SELECT track_id, prints
FROM track_prints
WHERE engine = %(engine)s AND track_id > %(after)s
ORDER BY track_id
LIMIT %(limit)s;
