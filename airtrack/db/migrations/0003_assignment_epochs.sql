-- 0003: the owner of every epoch of every stream, kept by a trigger.
-- Plays are fenced against this history: a play with an older epoch is accepted only
-- if no other worker has owned the stream since (the same worker kept it through an
-- orchestrator outage); otherwise it is stale.
CREATE TABLE assignment_epochs (
    stream_id  bigint NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    epoch      bigint NOT NULL,
    worker_id  text,
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, epoch)
);

CREATE FUNCTION airtrack_record_epoch() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.epoch <> OLD.epoch THEN
        INSERT INTO assignment_epochs (stream_id, epoch, worker_id)
        VALUES (NEW.stream_id, NEW.epoch, NEW.worker_id)
        ON CONFLICT (stream_id, epoch) DO UPDATE SET worker_id = EXCLUDED.worker_id;
    END IF;
    RETURN NEW;
END
$fn$;

CREATE TRIGGER assignments_record_epoch
AFTER INSERT OR UPDATE OF epoch ON assignments
FOR EACH ROW EXECUTE FUNCTION airtrack_record_epoch();

INSERT INTO assignment_epochs (stream_id, epoch, worker_id)
SELECT stream_id, epoch, worker_id FROM assignments;
