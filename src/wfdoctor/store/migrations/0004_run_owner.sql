-- v4: the process that records a run. A run still "running" whose process is gone was
-- killed (SIGKILL, power loss) before it could close itself: the next open marks it
-- "abandoned", so the history never shows it running forever. Older runs have no pid.
ALTER TABLE runs ADD COLUMN pid INTEGER;
