-- v5: the monitor. Actions name the alert that caused them and their outcome; alert transitions
-- (pending, firing, resolved) are kept as history; silences mute notifications by label matchers;
-- samples older than the raw retention are folded into per-minute aggregates.
ALTER TABLE actions ADD COLUMN alert TEXT NOT NULL DEFAULT '';
ALTER TABLE actions ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
CREATE TABLE alert_events (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    name TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    severity TEXT NOT NULL,
    labels TEXT NOT NULL,
    annotations TEXT NOT NULL,
    value REAL,
    active_at REAL NOT NULL,
    run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL
);
CREATE INDEX alert_events_by_fingerprint ON alert_events(fingerprint, ts);
CREATE TABLE silences (
    id INTEGER PRIMARY KEY,
    created_at REAL NOT NULL,
    ends_at REAL NOT NULL,
    matchers TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    expired_at REAL
);
CREATE TABLE aggregates (
    metric TEXT NOT NULL,
    labels TEXT NOT NULL,
    unit TEXT NOT NULL,
    minute REAL NOT NULL,
    count INTEGER NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    sum REAL NOT NULL,
    PRIMARY KEY (metric, labels, minute)
);
