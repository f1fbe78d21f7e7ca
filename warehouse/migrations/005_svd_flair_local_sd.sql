-- Issue 16 item 5: one more MRI QC metric, qc_flair_local_sd_ratio (calcisvd.measures.SVD_QC):
-- the robust SD of the FLAIR's locally re-referenced normal-appearing white matter over its
-- global NAWM SD (ratio). Above its plausible bound (tasks/svd/review.py) a confluent load has
-- filled the local reference and the WMH volume is not to be trusted (status review).
-- Nullable DOUBLE on the curated, history and staging tables (additive only).

ALTER TABLE main.svd_measures ADD COLUMN qc_flair_local_sd_ratio DOUBLE;
ALTER TABLE main.svd_measures_history ADD COLUMN qc_flair_local_sd_ratio DOUBLE;
ALTER TABLE staging.svd_measures ADD COLUMN qc_flair_local_sd_ratio DOUBLE;
