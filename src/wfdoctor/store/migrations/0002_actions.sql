-- v2: every action wfdoctor takes or plans, with before/after evidence.
CREATE TABLE actions (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    level TEXT NOT NULL,
    applied INTEGER NOT NULL,
    reason TEXT NOT NULL,
    before TEXT NOT NULL,
    after TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX actions_by_run ON actions(run_id);
