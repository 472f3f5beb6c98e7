-- capfilt shard schema, version 5 (PRAGMA user_version = 5; versions 1 to 4 are upgraded in place). Version 3 added texts_fts,
-- version 4 media.language, version 5 the task columns of runs and the retirements of array tasks.
-- One shard holds whole inputs: a source and all its media, texts and scores live in the same file.

CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row per `capfilt run` that wrote to this shard: the run ledger. A task of an array job
-- (`--shard-index I --shard-count N`) records its index, the count and the array's run group, which
-- `capfilt catalog` checks for tasks missing or unfinished.
CREATE TABLE IF NOT EXISTS runs (
    id              TEXT PRIMARY KEY,
    pipeline_name   TEXT,
    pipeline_hash   TEXT NOT NULL,
    pipeline_yaml   TEXT,
    capfilt_version TEXT,
    host            TEXT,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    status          TEXT NOT NULL CHECK (status IN ('running', 'ok', 'errors', 'failed', 'interrupted')),
    exit_code       INTEGER,
    stats           TEXT,
    run_group       TEXT,
    task_index      INTEGER,
    task_count      INTEGER
);

-- Every input seen, keyed by the SHA-256 of its bytes; unreadable files by 'path:' + SHA-256 of the path.
-- stage_keys: a JSON list, one key per stage, each covering the input and the settings of that stage and
-- all before it; a rerun redoes work from the first stage whose key changed.
-- retired_by: the run that found the input gone (its file deleted or replaced by other bytes). Retired
-- rows leave every view but stay, so an input that comes back costs no recomputation; `capfilt prune`
-- deletes them.
CREATE TABLE IF NOT EXISTS sources (
    id           INTEGER PRIMARY KEY,
    content_hash TEXT NOT NULL UNIQUE,
    uri          TEXT NOT NULL,
    external_id  TEXT,
    kind         TEXT CHECK (kind IN ('video', 'image', 'audio')),
    container    TEXT,
    video_codec  TEXT,
    audio_codec  TEXT,
    duration_s   REAL,
    width        INTEGER,
    height       INTEGER,
    fps          REAL,
    rotation     INTEGER,
    size_bytes   INTEGER,
    status       TEXT NOT NULL CHECK (status IN ('ok', 'partial', 'error')),
    error        TEXT,
    work_key     TEXT,
    stage_keys   TEXT,
    stats        TEXT,
    run_id       TEXT REFERENCES runs(id),
    created_at   TEXT NOT NULL,
    retired_by   TEXT
);

-- Sampled frames (encoded images) and audio segments (16 kHz mono float32 little-endian).
CREATE TABLE IF NOT EXISTS media (
    id          INTEGER PRIMARY KEY,
    source_id   INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('frame', 'audio')),
    idx         INTEGER NOT NULL,
    t_start     REAL NOT NULL,
    t_end       REAL,
    width       INTEGER,
    height      INTEGER,
    sample_rate INTEGER,
    samples     INTEGER,
    format      TEXT NOT NULL,
    is_keyframe INTEGER,
    scene_score REAL,
    data        BLOB NOT NULL,
    -- Audio: the stream's language tag (ISO 639-2), stored when the pipeline chooses the audio stream.
    language    TEXT,
    UNIQUE (source_id, kind, idx)
);
CREATE INDEX IF NOT EXISTS media_source ON media(source_id);

-- Texts: web alt-texts from manifests, subtitle cues, synthetic captions; who made them and how, and
-- which pipeline stage (NULL: ingest).
CREATE TABLE IF NOT EXISTS texts (
    id          INTEGER PRIMARY KEY,
    source_id   INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    media_id    INTEGER REFERENCES media(id) ON DELETE CASCADE,
    origin      TEXT NOT NULL CHECK (origin IN ('web', 'subtitle', 'synthetic')),
    text        TEXT NOT NULL,
    t_start     REAL,
    t_end       REAL,
    external_id TEXT,
    producer    TEXT,
    settings    TEXT,
    stage       TEXT
);
CREATE INDEX IF NOT EXISTS texts_source ON texts(source_id);

-- Full-text search over texts (FTS5, external content: the words are indexed, the text stays in
-- `texts`). Triggers keep it in step with every insert, delete (cascades included) and update. Query it
-- from the sqlite3 shell, e.g.
--   SELECT t.origin, t.text FROM texts_fts JOIN texts t ON t.id = texts_fts.rowid
--   WHERE texts_fts MATCH 'red AND (car OR truck)' ORDER BY rank LIMIT 20;
-- Older shards get it (and a rebuild from their texts) the next time a run opens them for writing.
CREATE VIRTUAL TABLE IF NOT EXISTS texts_fts USING fts5(
    text, content = 'texts', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS texts_fts_insert AFTER INSERT ON texts BEGIN
    INSERT INTO texts_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS texts_fts_delete AFTER DELETE ON texts BEGIN
    INSERT INTO texts_fts(texts_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER IF NOT EXISTS texts_fts_update AFTER UPDATE OF text ON texts BEGIN
    INSERT INTO texts_fts(texts_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO texts_fts(rowid, text) VALUES (new.id, new.text);
END;

-- Candidate pairs: which frames each text describes (web texts: every frame of their source;
-- subtitle cues: the frames they are on screen for; synthetic captions: their frame).
CREATE TABLE IF NOT EXISTS text_media (
    text_id  INTEGER NOT NULL REFERENCES texts(id) ON DELETE CASCADE,
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    PRIMARY KEY (text_id, media_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS text_media_media ON text_media(media_id);

-- Every score ever computed for a pair, by the stage that computed it (a filter and a score stage may
-- both compute BLIP's ITC). `kept` is the stage's decision (1 kept, 0 dropped, NULL none);
-- the value stays, so a pair can be re-thresholded in SQL without recomputing.
CREATE TABLE IF NOT EXISTS scores (
    text_id   INTEGER NOT NULL REFERENCES texts(id) ON DELETE CASCADE,
    media_id  INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    metric    TEXT NOT NULL,
    model     TEXT NOT NULL,
    value     REAL NOT NULL,
    threshold REAL,
    kept      INTEGER,
    stage     TEXT NOT NULL DEFAULT '',
    run_id    TEXT,
    PRIMARY KEY (text_id, media_id, metric, model, stage)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS scores_media ON scores(media_id);

-- A task of an array job found an input it owns gone (its file deleted, or other bytes under its name):
-- it cannot mark another task's shard, so it records the retirement here. A source row with this hash
-- and uri written at or before `at` is retired; `capfilt catalog` and the next single-process run or
-- `capfilt prune` apply it.
CREATE TABLE IF NOT EXISTS retirements (
    content_hash TEXT NOT NULL,
    uri          TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    at           TEXT NOT NULL
);

-- Models used by this shard's texts and scores.
CREATE TABLE IF NOT EXISTS models (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    path        TEXT,
    fingerprint TEXT,
    config      TEXT
);

-- All candidate pairs with what a data engineer looks at.
CREATE VIEW IF NOT EXISTS pairs AS
SELECT tm.text_id, tm.media_id, s.id AS source_id, s.uri, s.external_id, m.idx AS frame_idx,
       m.t_start AS t, t.origin, t.text, t.producer,
       NOT EXISTS (SELECT 1 FROM scores d WHERE d.text_id = tm.text_id AND d.media_id = tm.media_id AND d.kept = 0) AS kept
FROM text_media tm
JOIN texts t   ON t.id = tm.text_id
JOIN media m   ON m.id = tm.media_id AND m.kind = 'frame'
JOIN sources s ON s.id = t.source_id
WHERE s.retired_by IS NULL;

-- The curated set: pairs that no scoring stage dropped, with the frame image.
CREATE VIEW IF NOT EXISTS curated_pairs AS
SELECT p.text_id, p.media_id, p.source_id, p.uri, p.external_id, p.frame_idx, p.t, p.origin, p.text, p.producer,
       m.format AS image_format, m.width, m.height, m.data AS image
FROM pairs p JOIN media m ON m.id = p.media_id
WHERE p.kept;

-- The CapFilt result: every pair with its filter (ITM) and contrastive (ITC, CLIP) scores and whether it
-- was kept. Re-threshold without recomputing, e.g. WHERE itm >= 0.7 AND clip >= 0.28.
CREATE VIEW IF NOT EXISTS capfilt_result AS
SELECT p.text_id, p.media_id, p.source_id, p.uri, p.frame_idx, p.t, p.origin, p.text, p.producer,
       (SELECT MAX(value) FROM scores s WHERE s.text_id = p.text_id AND s.media_id = p.media_id AND s.metric = 'itm') AS itm,
       (SELECT MAX(value) FROM scores s WHERE s.text_id = p.text_id AND s.media_id = p.media_id AND s.metric = 'itc') AS itc,
       (SELECT MAX(value) FROM scores s WHERE s.text_id = p.text_id AND s.media_id = p.media_id AND s.metric = 'clip') AS clip,
       p.kept
FROM pairs p;

-- Inputs that failed, with FFmpeg's message.
CREATE VIEW IF NOT EXISTS errors AS
SELECT id, uri, status, error FROM sources WHERE status <> 'ok' AND retired_by IS NULL;

-- The inputs the corpus has now (sources less the retired ones).
CREATE VIEW IF NOT EXISTS live_sources AS
SELECT * FROM sources WHERE retired_by IS NULL;
