-- 0001: the provisioning model (source of truth; Redis is rebuilt from it).
--
-- Numbering: a tenant owns ranges of digit strings of one fixed length
-- (1..15 digits, E.164 maximum). A range is
--   local  : tenant-private extensions (the legacy 4-digit numbers); several
--            tenants may own the same local range;
--   global : a slice of the edge-wide number space; it overlaps no other
--            range of any tenant, so a dialled number finds its owner by
--            range lookup.
-- A tenant's own ranges never overlap each other. Every device and ring
-- group number lies inside one of its tenant's ranges.
--
-- Every change NOTIFYs channel 'edge_changes' with the affected tenant id
-- ('t:<id>') or 'pool'; edgectl's sync follower re-reads that tenant.

CREATE EXTENSION IF NOT EXISTS btree_gist;   -- trusted extension (PG >= 13)

CREATE TABLE tenants (
    id             text PRIMARY KEY CHECK (id ~ '^[0-9]{5}$'),
    name           text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    global_access  boolean NOT NULL DEFAULT false,   -- support tenants: may call anyone
    recording      boolean NOT NULL DEFAULT true,    -- legacy: every call recorded
    domain         text CHECK (domain ~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$'),
    max_calls      integer CHECK (max_calls IS NULL OR max_calls >= 0),
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tenants_domain_uq ON tenants (lower(domain)) WHERE domain IS NOT NULL;

CREATE TABLE number_ranges (
    id            bigserial PRIMARY KEY,
    tenant_id     text NOT NULL REFERENCES tenants(id) ON DELETE RESTRICT,
    first_number  text NOT NULL CHECK (first_number ~ '^[0-9]{1,15}$'),
    last_number   text NOT NULL CHECK (last_number ~ '^[0-9]{1,15}$'),
    scope         text NOT NULL CHECK (scope IN ('local', 'global')),
    ndigits       integer GENERATED ALWAYS AS (length(first_number)) STORED,
    span          int8range GENERATED ALWAYS AS
                      (int8range(first_number::int8, last_number::int8, '[]')) STORED,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT range_same_length CHECK (length(first_number) = length(last_number)),
    CONSTRAINT range_ordered CHECK (first_number::int8 <= last_number::int8),
    -- a tenant's own ranges never overlap
    CONSTRAINT range_no_overlap_in_tenant
        EXCLUDE USING gist (tenant_id WITH =, ndigits WITH =, span WITH &&),
    -- global ranges never overlap each other
    CONSTRAINT range_no_overlap_global
        EXCLUDE USING gist (ndigits WITH =, span WITH &&) WHERE (scope = 'global')
);
CREATE INDEX number_ranges_tenant ON number_ranges (tenant_id);

CREATE TABLE devices (
    id             bigserial PRIMARY KEY,
    tenant_id      text NOT NULL REFERENCES tenants(id) ON DELETE RESTRICT,
    extension      text NOT NULL CHECK (extension ~ '^[0-9]{1,15}$'),
    -- the digest identity; unique edge-wide so a device that sends an IP or
    -- the edge's domain instead of its tenant's domain still finds its tenant
    auth_username  text NOT NULL CHECK (auth_username ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    -- HA1 = MD5(auth_username:realm:password); the password is never stored
    ha1            text NOT NULL CHECK (ha1 ~ '^[0-9a-f]{32}$'),
    display_name   text CHECK (display_name IS NULL OR length(display_name) <= 100),
    max_calls      integer CHECK (max_calls IS NULL OR max_calls >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT device_extension_uq UNIQUE (tenant_id, extension)
);
CREATE UNIQUE INDEX devices_auth_username_uq ON devices (lower(auth_username));

CREATE TABLE ring_groups (
    id            bigserial PRIMARY KEY,
    tenant_id     text NOT NULL REFERENCES tenants(id) ON DELETE RESTRICT,
    number        text NOT NULL CHECK (number ~ '^[0-9]{1,15}$'),
    name          text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    strategy      text NOT NULL DEFAULT 'ringall' CHECK (strategy IN ('ringall', 'sequential')),
    ring_timeout  integer NOT NULL DEFAULT 30 CHECK (ring_timeout BETWEEN 5 AND 600),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ring_group_number_uq UNIQUE (tenant_id, number)
);

CREATE TABLE ring_group_members (
    ring_group_id  bigint NOT NULL REFERENCES ring_groups(id) ON DELETE CASCADE,
    device_id      bigint NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    position       integer NOT NULL DEFAULT 0,
    PRIMARY KEY (ring_group_id, device_id)
);

-- from_tenant may call to_tenant (one way; "both ways" is two rows)
CREATE TABLE tenant_exceptions (
    from_tenant  text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    to_tenant    text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (from_tenant, to_tenant),
    CHECK (from_tenant <> to_tenant)
);

CREATE TABLE pool_members (
    id           serial PRIMARY KEY,
    uri          text NOT NULL UNIQUE CHECK (uri ~ '^sips?:[A-Za-z0-9.:\[\]-]+(:[0-9]{1,5})?(;[A-Za-z0-9=._-]+)*$'),
    weight       integer NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 100),
    state        text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'draining')),
    description  text,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------
-- Rules that span rows or tables (triggers). Range writes are serialised by a
-- transaction-scoped advisory lock so two concurrent inserts cannot both pass.

CREATE FUNCTION edge_lock_numbering() RETURNS void LANGUAGE sql AS
$$ SELECT pg_advisory_xact_lock(7240001) $$;

CREATE FUNCTION edge_range_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    clash record;
    -- generated columns are not computed yet in a BEFORE trigger
    new_span int8range := int8range(NEW.first_number::int8, NEW.last_number::int8, '[]');
BEGIN
    PERFORM edge_lock_numbering();
    -- a global range overlaps nothing of another tenant; a local range
    -- overlaps no global range
    SELECT r.tenant_id, r.first_number, r.last_number, r.scope INTO clash
      FROM number_ranges r
     WHERE r.id <> NEW.id
       AND r.tenant_id <> NEW.tenant_id
       AND r.ndigits = length(NEW.first_number)
       AND r.span && new_span
       AND (NEW.scope = 'global' OR r.scope = 'global')
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'range %-% overlaps % range %-% of tenant %',
            NEW.first_number, NEW.last_number, clash.scope,
            clash.first_number, clash.last_number, clash.tenant_id
            USING ERRCODE = '23P01';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER number_ranges_check BEFORE INSERT OR UPDATE ON number_ranges
    FOR EACH ROW EXECUTE FUNCTION edge_range_check();

-- true when number lies in one of tenant's ranges
CREATE FUNCTION edge_number_in_ranges(p_tenant text, p_number text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM number_ranges r
                    WHERE r.tenant_id = p_tenant
                      AND r.ndigits = length(p_number)
                      AND r.span @> p_number::int8)
$$;

CREATE FUNCTION edge_number_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    num text;
BEGIN
    PERFORM edge_lock_numbering();
    IF TG_TABLE_NAME = 'devices' THEN
        num := NEW.extension;
        IF EXISTS (SELECT 1 FROM ring_groups g
                    WHERE g.tenant_id = NEW.tenant_id AND g.number = num) THEN
            RAISE EXCEPTION 'number % of tenant % is a ring group', num, NEW.tenant_id
                USING ERRCODE = '23505';
        END IF;
    ELSE
        num := NEW.number;
        IF EXISTS (SELECT 1 FROM devices d
                    WHERE d.tenant_id = NEW.tenant_id AND d.extension = num) THEN
            RAISE EXCEPTION 'number % of tenant % is a device', num, NEW.tenant_id
                USING ERRCODE = '23505';
        END IF;
    END IF;
    IF NOT edge_number_in_ranges(NEW.tenant_id, num) THEN
        RAISE EXCEPTION 'number % is outside the ranges of tenant %', num, NEW.tenant_id
            USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER devices_number_check BEFORE INSERT OR UPDATE OF tenant_id, extension ON devices
    FOR EACH ROW EXECUTE FUNCTION edge_number_check();
CREATE TRIGGER ring_groups_number_check BEFORE INSERT OR UPDATE OF tenant_id, number ON ring_groups
    FOR EACH ROW EXECUTE FUNCTION edge_number_check();

-- shrinking or removing a range must not strand a number
CREATE FUNCTION edge_range_keep_numbers() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    stranded text;
BEGIN
    PERFORM edge_lock_numbering();
    SELECT n INTO stranded FROM (
        SELECT d.extension AS n FROM devices d WHERE d.tenant_id = OLD.tenant_id
        UNION ALL
        SELECT g.number FROM ring_groups g WHERE g.tenant_id = OLD.tenant_id
    ) nums
    WHERE length(n) = OLD.ndigits AND OLD.span @> n::int8
      AND NOT edge_number_in_ranges(OLD.tenant_id, n)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'range %-% of tenant % still holds number %',
            OLD.first_number, OLD.last_number, OLD.tenant_id, stranded
            USING ERRCODE = '23503';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER number_ranges_keep_numbers
    AFTER DELETE OR UPDATE ON number_ranges
    FOR EACH ROW EXECUTE FUNCTION edge_range_keep_numbers();

-- ring group members belong to the ring group's tenant
CREATE FUNCTION edge_member_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ring_groups g JOIN devices d ON d.tenant_id = g.tenant_id
                    WHERE g.id = NEW.ring_group_id AND d.id = NEW.device_id) THEN
        RAISE EXCEPTION 'a ring group member must be a device of the ring group''s tenant'
            USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER ring_group_members_check BEFORE INSERT OR UPDATE ON ring_group_members
    FOR EACH ROW EXECUTE FUNCTION edge_member_check();

-- ---------------------------------------------------------------------------
-- Change propagation: NOTIFY edge_changes with the tenant to re-read.
-- Identical payloads in one transaction are delivered once (PostgreSQL folds them).

CREATE FUNCTION edge_notify_tenant() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t_old text;
    t_new text;
BEGIN
    IF TG_TABLE_NAME = 'tenants' THEN
        IF TG_OP <> 'INSERT' THEN t_old := OLD.id; END IF;
        IF TG_OP <> 'DELETE' THEN t_new := NEW.id; END IF;
    ELSIF TG_TABLE_NAME = 'tenant_exceptions' THEN
        IF TG_OP <> 'INSERT' THEN t_old := OLD.from_tenant; END IF;
        IF TG_OP <> 'DELETE' THEN t_new := NEW.from_tenant; END IF;
    ELSIF TG_TABLE_NAME = 'ring_group_members' THEN
        IF TG_OP <> 'INSERT' THEN
            SELECT tenant_id INTO t_old FROM ring_groups WHERE id = OLD.ring_group_id;
        END IF;
        IF TG_OP <> 'DELETE' THEN
            SELECT tenant_id INTO t_new FROM ring_groups WHERE id = NEW.ring_group_id;
        END IF;
    ELSE
        IF TG_OP <> 'INSERT' THEN t_old := OLD.tenant_id; END IF;
        IF TG_OP <> 'DELETE' THEN t_new := NEW.tenant_id; END IF;
    END IF;
    IF t_old IS NOT NULL THEN PERFORM pg_notify('edge_changes', 't:' || t_old); END IF;
    IF t_new IS NOT NULL AND t_new IS DISTINCT FROM t_old THEN
        PERFORM pg_notify('edge_changes', 't:' || t_new);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION edge_notify_pool() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('edge_changes', 'pool');
    RETURN NULL;
END $$;

CREATE TRIGGER tenants_notify AFTER INSERT OR UPDATE OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION edge_notify_tenant();
CREATE TRIGGER number_ranges_notify AFTER INSERT OR UPDATE OR DELETE ON number_ranges
    FOR EACH ROW EXECUTE FUNCTION edge_notify_tenant();
CREATE TRIGGER devices_notify AFTER INSERT OR UPDATE OR DELETE ON devices
    FOR EACH ROW EXECUTE FUNCTION edge_notify_tenant();
CREATE TRIGGER ring_groups_notify AFTER INSERT OR UPDATE OR DELETE ON ring_groups
    FOR EACH ROW EXECUTE FUNCTION edge_notify_tenant();
CREATE TRIGGER ring_group_members_notify AFTER INSERT OR UPDATE OR DELETE ON ring_group_members
    FOR EACH ROW EXECUTE FUNCTION edge_notify_tenant();
CREATE TRIGGER tenant_exceptions_notify AFTER INSERT OR UPDATE OR DELETE ON tenant_exceptions
    FOR EACH ROW EXECUTE FUNCTION edge_notify_tenant();
CREATE TRIGGER pool_members_notify AFTER INSERT OR UPDATE OR DELETE ON pool_members
    FOR EACH STATEMENT EXECUTE FUNCTION edge_notify_pool();
