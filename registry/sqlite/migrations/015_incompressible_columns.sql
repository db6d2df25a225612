-- Nothing to do: PostgreSQL's version stops compressing signed PDFs, seal
-- signatures and sealed photos, and SQLite never compresses. The version
-- stays in step.
SELECT 1;
