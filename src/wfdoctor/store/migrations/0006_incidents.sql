-- v6: the incident knowledge base. One row per documented troubleshooting session; `document` is the
-- whole incident as store/incidents.incident_to_json writes it (what is read back), and the columns beside
-- it are copies for listing, searching and matching without parsing every document. `origin` tells the
-- team's shared incidents apart: "local", or "imported: <file name>" for those `incidents import` added.
CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    created_at REAL NOT NULL,
    resolved_at REAL,
    status TEXT NOT NULL,
    cause TEXT NOT NULL,
    verdict TEXT NOT NULL,
    summary TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    fingerprint TEXT NOT NULL,
    document TEXT NOT NULL,
    origin TEXT NOT NULL DEFAULT 'local'
);
CREATE INDEX incidents_by_cause ON incidents(cause);
CREATE INDEX incidents_by_identity ON incidents(created_at, cause);
