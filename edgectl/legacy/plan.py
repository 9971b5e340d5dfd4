"""From parsed legacy servers to the edge's rows, and the dry-run report. Pure.

A server's *plan* is plain JSON (stored with each import, so an import can be
compared with the next one and undone): its namespace (name, realm,
addresses), tenants, devices keyed ``tenant:extension``, the legacy
identities (peer name -> device, HA1, codecs), ring groups keyed
``tenant:number``, exceptions ``from>to`` and the lines it could not import.

The edge's rows are the *merge* of the active plans of every imported server
(:func:`merge`): the same tenant arrives from several servers (00001/00002 are
on all three); the same number of the same tenant is one device (numbers are
tenant-scoped on the edge) with one identity per server it came from; the same
number of different tenants is different devices, told apart by namespace.
Ranges are derived from the merged numbers: per tenant, the runs of
consecutive numbers it uses, so a range holds only the tenant's own numbers,
never one that only another tenant has. They are local ranges (the 4-digit
numbers exist in many tenants; the schema refuses one over a global range).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

from edgecore import digest
from edgectl.legacy.parse import RESELLER, LegacyServer, Problem, Where

Plan = dict[str, Any]
NAMESPACE_NAME = r"^[a-z0-9][a-z0-9-]{0,31}$"


def plan_server(name: str, addresses: list[str], realm: str | None,
                server: LegacyServer) -> Plan:
    realm = realm or server.realm
    problems: list[Problem] = list(server.problems)
    tenants: dict[str, dict[str, Any]] = {}
    devices: dict[str, dict[str, Any]] = {}
    identities: dict[str, dict[str, Any]] = {}
    peer_tenant: dict[str, str] = {}

    def tenant(tid: str, hint: str | None = None) -> None:
        if tid not in tenants:
            label = server.resellers.get(tid) or hint or f"Revenda {tid}"
            tenants[tid] = {"name": label[:200], "global": False}

    for p in server.peers.values():
        if p.name in server.ring_groups:
            problems.append(Problem(p.where, f"peer [{p.name}] has the number of ring group "
                                             f"{p.name} (dialplan takes the group): not imported"))
            continue
        tenant(p.revenda, p.display_name)
        key = f"{p.revenda}:{p.name}"
        devices[key] = {"display_name": p.display_name}
        ha1 = p.ha1 or digest.ha1(p.name, realm, p.secret or "")
        identities[p.name] = {"device": key, "ha1": ha1, "codecs": list(p.codecs)}
        peer_tenant[p.name] = p.revenda

    ring_groups: dict[str, dict[str, Any]] = {}
    admitted_by: dict[str, list[str]] = {}
    for g in server.ring_groups.values():
        owners = [peer_tenant[m] for m in g.members if m in peer_tenant]
        if owners:
            owner = max(sorted(set(owners)), key=owners.count)
        else:
            cand = [r for r in g.admitted if r in tenants]
            if not cand:
                problems.append(Problem(g.where, f"ring group {g.number}: no member and no "
                                                 "admitted reseller with devices here: not imported"))
                continue
            owner = cand[0]
        members = []
        for m, where in zip(g.members, g.member_lines):
            if m not in peer_tenant:
                problems.append(Problem(where, f"ring group {g.number}: member SIP/{m} is not an "
                                               "imported peer: left out"))
            elif peer_tenant[m] != owner:
                problems.append(Problem(where, f"ring group {g.number} of {owner}: member {m} "
                                               f"belongs to {peer_tenant[m]}: left out"))
            else:
                members.append(m)
        ring_groups[f"{owner}:{g.number}"] = {
            "name": g.name, "strategy": g.strategy, "timeout": g.timeout,
            "recording": g.recording, "members": members, "admitted": list(g.admitted),
            "where": str(g.where)}
        admitted_by[f"{owner}:{g.number}"] = list(g.admitted)

    # support tenants: admitted by every other reseller's ring group
    for t in tenants:
        groups = [k for k in admitted_by if not k.startswith(t + ":")]
        if len(groups) >= 2 and all(t in admitted_by[k] for k in groups):
            tenants[t]["global"] = True
    exceptions: set[str] = set()
    for key, admitted in admitted_by.items():
        owner = key.split(":")[0]
        for r in admitted:
            if r == owner or not RESELLER.match(r) or tenants.get(r, {}).get("global"):
                continue
            if r not in tenants:
                problems.append(Problem(Where.parse(ring_groups[key]["where"]),
                                        f"ring group {key} admits reseller {r}, which has no "
                                        "device on this server: no exception imported"))
                continue
            exceptions.add(f"{r}>{owner}")
    return {
        "namespace": name, "realm": realm, "addresses": sorted(set(a.lower() for a in addresses)),
        "tenants": tenants, "devices": devices, "identities": identities,
        "ring_groups": ring_groups, "exceptions": sorted(exceptions),
        "open_dial": [str(w) for w in server.open_dial],
        "registry_only": sorted(t for t in server.resellers if t not in tenants),
        "problems": [str(p) for p in problems],
    }


# -- merging the active plans -------------------------------------------------------

def merge(plans: Iterable[Plan]) -> tuple[dict[str, Any], list[str]]:
    """The edge rows of several servers' plans, and what merging decided."""
    tenants: dict[str, dict[str, Any]] = {}
    devices: dict[str, dict[str, Any]] = {}
    identities: dict[tuple[str, str], dict[str, Any]] = {}
    ring_groups: dict[str, dict[str, Any]] = {}
    exceptions: set[str] = set()
    notes: list[str] = []
    namespaces: dict[str, dict[str, Any]] = {}
    plans = sorted(plans, key=lambda p: p["namespace"])
    for p in plans:
        ns = p["namespace"]
        namespaces[ns] = {"realm": p["realm"], "addresses": p["addresses"]}
        for t, v in p["tenants"].items():
            cur = tenants.setdefault(t, dict(v))
            cur["global"] = cur["global"] or v["global"]
        for key, g in p["ring_groups"].items():
            if key in ring_groups:
                cur = ring_groups[key]
                extra = [m for m in g["members"] if m not in cur["members"]]
                cur["members"] = cur["members"] + extra
                notes.append(f"ring group {key} is on several servers: one group, members merged")
            else:
                ring_groups[key] = {k: g[k] for k in ("name", "strategy", "timeout", "members")}
    for p in plans:
        ns = p["namespace"]
        for key, d in p["devices"].items():
            if key in ring_groups:
                notes.append(f"{ns}: device {key} is a ring group on another server: not imported")
                continue
            devices.setdefault(key, dict(d))
        for peer, ident in p["identities"].items():
            if ident["device"] in devices:
                identities[(ns, peer)] = ident
        exceptions.update(p["exceptions"])
    for key, g in ring_groups.items():
        g["members"] = [m for m in g["members"] if f"{key.split(':')[0]}:{m}" in devices]
    return {"namespaces": namespaces, "tenants": tenants, "devices": devices,
            "identities": identities, "ring_groups": ring_groups,
            "exceptions": sorted(exceptions), "ranges": ranges(devices, ring_groups)}, notes


def ranges(devices: Iterable[str], ring_groups: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """Per tenant, the runs of consecutive numbers of one length it uses."""
    nums: dict[str, set[str]] = defaultdict(set)
    for key in [*devices, *ring_groups]:
        t, n = key.split(":")
        nums[t].add(n)
    out: dict[str, list[tuple[str, str]]] = {}
    for t, ns in nums.items():
        runs: list[tuple[str, str]] = []
        for n in sorted(ns, key=lambda x: (len(x), int(x))):
            if runs and len(runs[-1][1]) == len(n) and int(runs[-1][1]) + 1 == int(n):
                runs[-1] = (runs[-1][0], n)
            else:
                runs.append((n, n))
        out[t] = runs
    return out


# -- the dry-run report -----------------------------------------------------------------

def report(plan: Plan, others: list[Plan], existing_tenants: set[str]) -> dict[str, Any]:
    """What importing ``plan`` beside the already imported ``others`` does."""
    merged, notes = merge([*others, plan])
    ns = plan["namespace"]
    counts = {"tenants": len(plan["tenants"]), "devices": len(plan["devices"]),
              "ring_groups": len(plan["ring_groups"]), "exceptions": len(plan["exceptions"]),
              "unimportable_lines": len(plan["problems"]),
              "new_tenants": len([t for t in plan["tenants"] if t not in existing_tenants]),
              "registry_only_resellers": len(plan["registry_only"])}
    # numbers on several servers
    where: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for p in [*others, plan]:
        for peer, ident in p["identities"].items():
            where[peer].append((p["namespace"], ident["device"].split(":")[0], ident["ha1"]))
        for key in p["ring_groups"]:
            t, n = key.split(":")
            where[n].append((p["namespace"], t, "group"))
    shared = []
    for number, occ in sorted(where.items(), key=lambda kv: (len(kv[0]), kv[0])):
        servers = sorted({o[0] for o in occ})
        if len(servers) < 2 or ns not in servers:
            continue
        tenants = sorted({o[1] for o in occ})
        kinds = {o[2] for o in occ}            # the HA1s, or "group"
        if len(tenants) == 1 and kinds == {"group"}:
            what = f"same tenant {tenants[0]}: one ring group, members merged"
        elif len(tenants) == 1 and "group" in kinds:
            what = (f"same tenant {tenants[0]}: a device on one server, a ring group on another: "
                    "the ring group is imported, the device not")
        elif len(tenants) == 1:
            what = (f"same tenant {tenants[0]}, same secret: one device, one identity per server"
                    if len(kinds) == 1 else
                    f"same tenant {tenants[0]}: one device, one identity per server "
                    "(secrets differ)")
        else:
            what = ("different tenants " + ", ".join(f"{o[1]}@{o[0]}" for o in occ)
                    + ": distinct, told apart by namespace")
        shared.append({"number": number, "servers": servers, "outcome": what})
    # reachability that changes: legacy [record] dials any extension directly
    lost: list[str] = []
    if plan["open_dial"]:
        tset = sorted(plan["tenants"])
        glob = {t for t in tset if merged["tenants"][t]["global"]}
        exc = set(merged["exceptions"])
        for a in tset:
            for b in tset:
                if a != b and a not in glob and f"{a}>{b}" not in exc:
                    lost.append(f"{a}>{b}")
    imported = {p["namespace"]: {"tenants": len(p["tenants"]), "devices": len(p["devices"]),
                                 "ring_groups": len(p["ring_groups"]),
                                 "exceptions": len(p["exceptions"])} for p in others}
    return {"server": ns, "realm": plan["realm"], "addresses": plan["addresses"],
            "counts": counts, "imported_servers": imported,
            "after_import": {"tenants": len(merged["tenants"]), "devices": len(merged["devices"]),
                             "identities": len(merged["identities"]),
                             "ring_groups": len(merged["ring_groups"]),
                             "exceptions": len(merged["exceptions"])}, "numbers_on_several_servers": shared,
            "unimportable": plan["problems"], "merge_notes": notes,
            "global_tenants": sorted(t for t, v in plan["tenants"].items() if v["global"]),
            "reachability_lost": lost,
            "reachability_note": ("legacy [record] (" + ", ".join(plan["open_dial"][:1]) +
                                  ") dials any extension without a REVENDA check; on the edge a "
                                  "reseller reaches another only as support or by exception "
                                  "(edgectl exception add FROM TO)") if plan["open_dial"] else ""}


def render(rep: dict[str, Any], limit: int = 20) -> str:
    c = rep["counts"]
    out = [f"server {rep['server']} (realm {rep['realm']}, addresses "
           f"{', '.join(rep['addresses']) or '-'})",
           f"  tenants {c['tenants']} ({c['new_tenants']} new, support: "
           f"{', '.join(rep['global_tenants']) or 'none'}), devices {c['devices']}, "
           f"ring groups {c['ring_groups']}, exceptions {c['exceptions']}, "
           f"registry-only resellers skipped {c['registry_only_resellers']}",
           f"  numbers also on other imported servers: {len(rep['numbers_on_several_servers'])}"]
    for name, n in sorted(rep["imported_servers"].items()):
        out.insert(2, f"  already imported {name}: tenants {n['tenants']}, devices {n['devices']}, "
                      f"ring groups {n['ring_groups']}, exceptions {n['exceptions']}")
    a = rep["after_import"]
    out.insert(2 + len(rep["imported_servers"]),
               f"  the edge after this import: tenants {a['tenants']}, devices {a['devices']} "
               f"({a['identities']} legacy identities), ring groups {a['ring_groups']}, "
               f"exceptions {a['exceptions']}")
    for s in rep["numbers_on_several_servers"][:limit]:
        out.append(f"    {s['number']} on {'+'.join(s['servers'])}: {s['outcome']}")
    if len(rep["numbers_on_several_servers"]) > limit:
        out.append(f"    ... {len(rep['numbers_on_several_servers']) - limit} more (--json)")
    out.append(f"  lines not imported: {len(rep['unimportable'])}")
    out += [f"    {p}" for p in rep["unimportable"]]
    for n in rep["merge_notes"][:limit]:
        out.append(f"  merge: {n}")
    lost = rep["reachability_lost"]
    out.append(f"  reachability that changes: {len(lost)} reseller pairs could call each "
               "other's extensions directly and cannot on the edge")
    if lost:
        out.append(f"    {rep['reachability_note']}")
        out.append("    " + " ".join(lost[:limit]) + (" ..." if len(lost) > limit else ""))
    return "\n".join(out)
