-- v3: leak rates are bytes per minute (v2 and earlier labelled them "bytes"); the metric
-- registry refuses the old unit, so stored leak verdicts are relabelled, values unchanged.
UPDATE samples SET unit = 'bytes/min'
WHERE metric IN ('wf_memory_leak_bytes_per_minute', 'wf_memory_growth_bytes_per_minute') AND unit = 'bytes';
