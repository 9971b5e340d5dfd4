-- 0005: cutover from the legacy chan_sip servers (edgectl import, issue 14).
--
-- A legacy server is a *namespace*: the address(es) or DNS name(s) its phones
-- send to, and the digest realm it challenged with. Within a namespace the
-- phones authenticate with their legacy peer names (legacy_identities), which
-- several servers share ("7001" on GV1P and on GV2P are different phones);
-- the device they stand for is an ordinary device of the edge, so routing,
-- numbering and policy are the same as for native devices.
--
-- imports records every import with the server's plan (what it parsed), so a
-- re-run with the same input is recognised and an import can be undone (the
-- previous plan of that server is applied again). legacy_objects lists the
-- rows the importer created: only those are ever changed or removed by it.

CREATE TABLE legacy_namespaces (
    name   text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,31}$'),
    realm  text NOT NULL CHECK (length(realm) BETWEEN 1 AND 100)
);

-- an IP address the server's phones send to, or the host name of its DNS name
CREATE TABLE legacy_namespace_addresses (
    address    text PRIMARY KEY CHECK (address = lower(address) AND address ~ '^[a-z0-9.:_-]{1,253}$'),
    namespace  text NOT NULL REFERENCES legacy_namespaces(name) ON DELETE CASCADE
);

CREATE TABLE legacy_identities (
    namespace      text NOT NULL REFERENCES legacy_namespaces(name) ON DELETE CASCADE,
    auth_username  text NOT NULL CHECK (auth_username ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    device_id      bigint NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    -- HA1 = MD5(peer:realm-of-the-namespace:secret), or the legacy md5secret as is
    ha1            text NOT NULL CHECK (ha1 ~ '^[0-9a-f]{32}$'),
    codecs         text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (namespace, auth_username)
);
CREATE UNIQUE INDEX legacy_identities_lower_uq ON legacy_identities (namespace, lower(auth_username));
CREATE INDEX legacy_identities_device ON legacy_identities (device_id);

-- rows created by imports: kind tenant|range|device|ring_group|exception, key
-- "<tenant>" | "<tenant>:<first>-<last>" | "<tenant>:<number>" | "<from>><to>"
CREATE TABLE legacy_objects (
    kind  text NOT NULL CHECK (kind IN ('tenant', 'range', 'device', 'ring_group', 'exception')),
    key   text NOT NULL,
    PRIMARY KEY (kind, key)
);

CREATE TABLE imports (
    id          bigserial PRIMARY KEY,
    namespace   text NOT NULL,
    source      text NOT NULL,
    digest      text NOT NULL,           -- sha256 of the plan
    plan        jsonb NOT NULL,
    summary     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    undone_at   timestamptz
);
CREATE INDEX imports_namespace ON imports (namespace, id);

-- change propagation (see 0001): an identity belongs to its device's tenant;
-- namespaces are read by the sync as a whole ('ns')
CREATE FUNCTION edge_notify_identity() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t text;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        SELECT tenant_id INTO t FROM devices WHERE id = OLD.device_id;
        IF t IS NOT NULL THEN PERFORM pg_notify('edge_changes', 't:' || t); END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        SELECT tenant_id INTO t FROM devices WHERE id = NEW.device_id;
        IF t IS NOT NULL THEN PERFORM pg_notify('edge_changes', 't:' || t); END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION edge_notify_namespaces() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('edge_changes', 'ns');
    RETURN NULL;
END $$;

CREATE TRIGGER legacy_identities_notify AFTER INSERT OR UPDATE OR DELETE ON legacy_identities
    FOR EACH ROW EXECUTE FUNCTION edge_notify_identity();
CREATE TRIGGER legacy_namespaces_notify AFTER INSERT OR UPDATE OR DELETE ON legacy_namespaces
    FOR EACH STATEMENT EXECUTE FUNCTION edge_notify_namespaces();
CREATE TRIGGER legacy_namespace_addresses_notify
    AFTER INSERT OR UPDATE OR DELETE ON legacy_namespace_addresses
    FOR EACH STATEMENT EXECUTE FUNCTION edge_notify_namespaces();
