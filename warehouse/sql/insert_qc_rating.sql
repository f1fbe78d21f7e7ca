-- One rating of a session (insert-only; the latest counts: view v_qc_latest_rating).
INSERT INTO qc_ratings (subject, session, rating, reason, rater, source, rated_at)
VALUES ($subject, $session, $rating, $reason, $rater, $source, $rated_at)
RETURNING rating_id;
