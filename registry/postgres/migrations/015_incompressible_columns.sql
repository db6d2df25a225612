-- Signed PDFs and seal signatures (their images and streams already
-- deflated) and sealed photos (ciphertext) do not compress: PostgreSQL
-- tried on every insert, spent more of a batch's time in pglz than in
-- anything else it did, and stored them uncompressed anyway (a PDF of
-- 63,850 bytes took 63,850, a seal signature of 31,102 took 31,102).
-- Out of line, as before, but never compressed.
ALTER TABLE certificate_pdfs ALTER COLUMN pdf SET STORAGE EXTERNAL;
ALTER TABLE certificate_ses ALTER COLUMN ses SET STORAGE EXTERNAL;
ALTER TABLE certificates ALTER COLUMN photo_sealed SET STORAGE EXTERNAL;
ALTER TABLE batch_rows ALTER COLUMN photo_sealed SET STORAGE EXTERNAL;
