-- Remember the content hash of images read in this batch.
INSERT OR REPLACE INTO scan_hash_cache BY NAME SELECT * FROM _hash_cache;
