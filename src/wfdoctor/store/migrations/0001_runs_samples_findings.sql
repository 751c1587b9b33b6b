-- v1: runs, their samples and findings.
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    command TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL DEFAULT 'running',
    tier TEXT NOT NULL DEFAULT '',
    settings TEXT NOT NULL DEFAULT '{}',
    environment TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE samples (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    metric TEXT NOT NULL,
    value REAL NOT NULL,
    unit TEXT NOT NULL,
    source TEXT NOT NULL,
    labels TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE INDEX samples_by_metric ON samples(metric, ts);
CREATE INDEX samples_by_run ON samples(run_id);
CREATE TABLE findings (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    rule_id TEXT NOT NULL,
    code TEXT NOT NULL,
    row TEXT NOT NULL,
    priority TEXT NOT NULL,
    symptom TEXT NOT NULL,
    cause TEXT NOT NULL,
    summary TEXT NOT NULL,
    actions TEXT NOT NULL,
    evidence TEXT NOT NULL
);
CREATE INDEX findings_by_run ON findings(run_id);
