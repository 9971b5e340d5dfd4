-- 0004: CDRs of the edge, one per call it handled, answered or not
-- (Kamailio acc + dialog, shipped from the node's spool by edgectl ops).
-- A call is identified by its Call-ID and the node that handled it; the
-- shipper inserts with ON CONFLICT DO NOTHING, so a spool file re-shipped
-- after a crash between COMMIT and unlink adds nothing twice.
CREATE TABLE edge_cdr (
    id             bigserial PRIMARY KEY,
    call_id        text NOT NULL,
    node           text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('call', 'pool_leg')),
    tenant         text NOT NULL,             -- the caller's tenant
    caller         text NOT NULL,             -- the caller's extension
    callee         text NOT NULL,             -- what was dialled
    callee_tenant  text,                      -- whose number it is (NULL: nobody's)
    setup_at       timestamptz NOT NULL,      -- the INVITE reached the edge
    answer_at      timestamptz,               -- the first 2xx (NULL: not answered)
    end_at         timestamptz NOT NULL,      -- BYE, or the final failure reply
    duration_ms    integer NOT NULL CHECK (duration_ms >= 0),   -- answer to end
    final_code     smallint NOT NULL,
    final_reason   text NOT NULL DEFAULT '',
    pool_member    text,                      -- the media-pool member that served it
    media          text NOT NULL CHECK (media IN ('direct', 'rtpengine', 'webrtc')),
    recording      text,                      -- path prefix (+ <uniqueid>.wav on the member)
    shipped_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (call_id, node)
);
CREATE INDEX edge_cdr_tenant_setup ON edge_cdr (tenant, setup_at);
CREATE INDEX edge_cdr_setup ON edge_cdr (setup_at);

-- When provisioning last changed, for the sync-lag metric (the read model's
-- edge:synced_at is compared with it). Statement-level triggers: a bulk COPY
-- of 100k devices touches this row once, not 100k times.
CREATE TABLE provisioning_changed (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    changed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO provisioning_changed DEFAULT VALUES;

CREATE FUNCTION edge_note_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE provisioning_changed SET changed_at = clock_timestamp();
    RETURN NULL;
END $$;

CREATE TRIGGER tenants_changed AFTER INSERT OR UPDATE OR DELETE ON tenants
    FOR EACH STATEMENT EXECUTE FUNCTION edge_note_change();
CREATE TRIGGER number_ranges_changed AFTER INSERT OR UPDATE OR DELETE ON number_ranges
    FOR EACH STATEMENT EXECUTE FUNCTION edge_note_change();
CREATE TRIGGER devices_changed AFTER INSERT OR UPDATE OR DELETE ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION edge_note_change();
CREATE TRIGGER ring_groups_changed AFTER INSERT OR UPDATE OR DELETE ON ring_groups
    FOR EACH STATEMENT EXECUTE FUNCTION edge_note_change();
CREATE TRIGGER ring_group_members_changed AFTER INSERT OR UPDATE OR DELETE ON ring_group_members
    FOR EACH STATEMENT EXECUTE FUNCTION edge_note_change();
CREATE TRIGGER tenant_exceptions_changed AFTER INSERT OR UPDATE OR DELETE ON tenant_exceptions
    FOR EACH STATEMENT EXECUTE FUNCTION edge_note_change();
