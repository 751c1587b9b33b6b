-- v7: a finding keeps the code of the cause that explains it (empty for a cause or an unexplained symptom), so a
-- stored run reads back cause first, each followed by its symptoms (reports, compare, incidents).
ALTER TABLE findings ADD COLUMN explained_by TEXT NOT NULL DEFAULT '';
