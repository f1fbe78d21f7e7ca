-- Issue 16 item 5: one more MRI QC metric, qc_wmh_global_reference_cm3 (calcisvd.measures.SVD_QC):
-- the WMH volume (cm^3) of a first pass against the FLAIR's global NAWM reference (WM
-- intensity class) when the reported volume used the local one. Far above the reported volume
-- (tasks.svd.review.WMH_GLOBAL_EXCESS_MAX_CM3) a confluent load filled the local reference and
-- the WMH volume is an underestimate (status review).
-- Nullable DOUBLE on the curated, history and staging tables (additive only).

ALTER TABLE main.svd_measures ADD COLUMN qc_wmh_global_reference_cm3 DOUBLE;
ALTER TABLE main.svd_measures_history ADD COLUMN qc_wmh_global_reference_cm3 DOUBLE;
ALTER TABLE staging.svd_measures ADD COLUMN qc_wmh_global_reference_cm3 DOUBLE;
