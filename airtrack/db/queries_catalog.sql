-- Catalog: tracks, their fingerprints and the catalog revision (airtrack.catalog).

-- name: catalog_track_by_sha
SELECT t.id, p.engine
FROM tracks t
LEFT JOIN track_prints p ON p.track_id = t.id
WHERE t.content_sha256 = %(sha)s;

-- name: catalog_insert_track
INSERT INTO tracks (title, artist, source, duration_s, content_sha256,
                    album, label, isrc, iswc, composers, release_year, extra)
VALUES (%(title)s, %(artist)s, %(source)s, %(duration_s)s, %(sha)s,
        %(album)s, %(label)s, %(isrc)s, %(iswc)s, %(composers)s, %(release_year)s, %(extra)s)
ON CONFLICT (content_sha256) DO NOTHING
RETURNING id;

-- name: catalog_track_by_isrc
SELECT id FROM tracks WHERE isrc = %(isrc)s;

-- name: catalog_put_prints
INSERT INTO track_prints (track_id, engine, prints)
VALUES (%(track_id)s, %(engine)s, %(prints)s)
ON CONFLICT (track_id) DO UPDATE SET engine = EXCLUDED.engine, prints = EXCLUDED.prints;

-- name: catalog_bump_revision
-- emits catalog.changed in the same transaction (events.sql)
SELECT airtrack_catalog_bump() AS revision;

-- name: catalog_state
SELECT revision, changed_at FROM catalog_state WHERE id;

-- name: catalog_card_tracks
-- What a scan shows of every track (the scan card, airtrack/catalog/card.py).
SELECT id, title, artist, source FROM tracks ORDER BY id;

-- name: catalog_card_files
-- The files, under the data directory, of the tables the scan card copies.
SELECT pg_relation_filepath('catalog_state') AS state_file,
       pg_relation_filepath('tracks') AS tracks_file;

-- name: catalog_checkpoint
-- Flush every committed change to the data files (the scan card stamps them after it).
CHECKPOINT;

-- name: catalog_list
-- %(search)s: case-insensitive substring of any descriptive field (NULL: every track);
-- the caller escapes LIKE wildcards
SELECT id, title, artist, source, duration_s, added_at,
       album, label, isrc, iswc, composers, release_year, extra
FROM tracks
WHERE %(search)s::text IS NULL
   OR concat_ws(' ', title, artist, album, label, isrc, iswc, source,
                array_to_string(composers, ' '), release_year::text)
      ILIKE '%%' || %(search)s || '%%'
ORDER BY id;

-- name: catalog_track_plays
-- The row lock keeps a play from arriving between this count and the delete.
SELECT t.id, (SELECT count(*) FROM plays p WHERE p.track_id = t.id) AS plays
FROM tracks t WHERE t.id = %(id)s
FOR UPDATE OF t;

-- name: catalog_track
SELECT id, title, artist, source, duration_s, added_at,
       album, label, isrc, iswc, composers, release_year, extra
FROM tracks
WHERE id = %(id)s;

-- name: catalog_lock_tracks
-- the tracks a metadata change names, locked in id order (one lock order for every
-- writer); keyed by id, ISRC or source
SELECT id, title, artist, source, duration_s, added_at,
       album, label, isrc, iswc, composers, release_year, extra
FROM tracks
WHERE id = ANY(%(ids)s) OR isrc = ANY(%(isrcs)s) OR source = ANY(%(sources)s)
ORDER BY id
FOR UPDATE;

-- name: catalog_isrc_holders
SELECT id, isrc FROM tracks WHERE isrc = ANY(%(isrcs)s);

-- name: catalog_update_track
UPDATE tracks
SET title = %(title)s, artist = %(artist)s, album = %(album)s, label = %(label)s,
    isrc = %(isrc)s, iswc = %(iswc)s, composers = %(composers)s,
    release_year = %(release_year)s, duration_s = %(duration_s)s, extra = %(extra)s
WHERE id = %(id)s;

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

-- name: catalog_put_peaks
INSERT INTO track_peaks (track_id, version, peaks)
VALUES (%(track_id)s, %(version)s, %(peaks)s)
ON CONFLICT (track_id) DO UPDATE SET version = EXCLUDED.version, peaks = EXCLUDED.peaks;

-- name: catalog_reindex_counts
-- what a reindex to %(engine)s has to do: tracks it can re-derive from stored peaks
-- (todo: not staged yet), tracks already staged, and tracks that need their audio again
SELECT
    count(*) FILTER (WHERE k.version = %(peaks_version)s
                       AND coalesce(n.engine, '') <> %(engine)s) AS todo,
    count(*) FILTER (WHERE n.engine = %(engine)s) AS staged,
    count(*) FILTER (WHERE k.track_id IS NULL OR k.version <> %(peaks_version)s) AS no_peaks
FROM tracks t
LEFT JOIN track_prints p ON p.track_id = t.id
LEFT JOIN track_peaks k ON k.track_id = t.id
LEFT JOIN track_prints_next n ON n.track_id = t.id
WHERE p.track_id IS NULL OR p.engine <> %(engine)s;

-- name: catalog_reindex_batch
-- keyset pagination over the tracks whose prints a reindex re-derives from their peaks
SELECT k.track_id, k.peaks
FROM track_peaks k
LEFT JOIN track_prints p ON p.track_id = k.track_id
LEFT JOIN track_prints_next n ON n.track_id = k.track_id
WHERE k.version = %(peaks_version)s AND k.track_id > %(after)s
  AND (p.track_id IS NULL OR p.engine <> %(engine)s)
  AND coalesce(n.engine, '') <> %(engine)s
ORDER BY k.track_id
LIMIT %(limit)s;

-- name: catalog_stage_prints
INSERT INTO track_prints_next (track_id, engine, prints)
VALUES (%(track_id)s, %(engine)s, %(prints)s)
ON CONFLICT (track_id) DO UPDATE SET engine = EXCLUDED.engine, prints = EXCLUDED.prints;

-- name: catalog_swap_staged_prints
-- the staged prints replace the served ones in one statement (the caller bumps the
-- revision in the same transaction); stale staging of another engine goes too
INSERT INTO track_prints (track_id, engine, prints)
SELECT track_id, engine, prints FROM track_prints_next WHERE engine = %(engine)s
ON CONFLICT (track_id) DO UPDATE SET engine = EXCLUDED.engine, prints = EXCLUDED.prints;

-- name: catalog_clear_staged_prints
DELETE FROM track_prints_next;

-- name: catalog_print_ids
-- every track the index serves (prints of the current engine): the segment builder diffs
-- it against the ids its segments hold to find added and removed tracks
SELECT track_id FROM track_prints WHERE engine = %(engine)s ORDER BY track_id;

-- name: catalog_prints_of
-- the prints of the tracks in %(ids)s (a delta segment's tracks, one batch)
SELECT track_id, prints
FROM track_prints
WHERE engine = %(engine)s AND track_id = ANY(%(ids)s)
ORDER BY track_id;

-- name: catalog_manifest_get
SELECT revision, changed_at, plan FROM catalog_manifest WHERE engine = %(engine)s;

-- name: catalog_manifest_lock
-- one replica at a time diffs the catalog into the plan (the others wait, then adopt it)
SELECT revision, changed_at, plan FROM catalog_manifest WHERE engine = %(engine)s FOR UPDATE;

-- name: catalog_manifest_put
INSERT INTO catalog_manifest (engine, revision, changed_at, plan)
VALUES (%(engine)s, %(revision)s, %(changed_at)s, %(plan)s)
ON CONFLICT (engine) DO UPDATE
SET revision = EXCLUDED.revision, changed_at = EXCLUDED.changed_at, plan = EXCLUDED.plan;

-- name: catalog_manifest_seed
-- the row the plan's lock is taken on (concurrent seeds wait for the first, then do nothing)
INSERT INTO catalog_manifest (engine, revision, changed_at, plan)
VALUES (%(engine)s, -1, now(), jsonb_build_object(
    'segments', '[]'::jsonb, 'removed', '[]'::jsonb, 'seq', 0,
    'id', md5(random()::text || clock_timestamp()::text)))
ON CONFLICT (engine) DO NOTHING;
