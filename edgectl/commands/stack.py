"""The native launcher and one node's daemons: ``edgectl stack ...``, ``edgectl node run``."""

from __future__ import annotations

import argparse
from typing import Any

from edgecore.config import Config
from edgectl import provision
from edgectl.commands.common import cfg_path
from edgectl.errors import EdgeError


def cmd_stack_up(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import demo
    from edgectl.stack import Stack

    stack = Stack(cfg, cfg_path=cfg_path(a), nodes=a.nodes)
    if a.demo:
        stack.on_migrated.append(lambda: print("demo dataset provisioned")
                                 if demo.apply(cfg) else None)
    started = stack.up()
    print("started: " + ", ".join(started) if started else "already running")
    s = cfg.sip
    print(f"\nSIP edge ready. Point a phone at {s.listen_ip}:{s.udp_port} (UDP/TCP),"
          f" realm {cfg.auth.realm}.")
    if a.nodes > 1:
        print("Nodes (one edge; a phone may use any, or several): " + ", ".join(
            f"{c.node.name} {c.sip.listen_ip}:{c.sip.udp_port}" for c in stack.node_cfgs))
    if a.demo:
        print("Demo devices (auth username / password):")
        for tid, ext in demo.DEVICES:
            au = provision.default_auth_username(tid, ext)
            print(f"  tenant {tid} ext {ext:<11} {au:<16} {demo.password(tid, ext)}")
    from edgectl import banner
    print("\n".join(banner.lines(cfg)))
    print(f"Metrics: http://{cfg.ops.metrics_listen}:{cfg.ops.metrics_port}/metrics   "
          f"Status: .venv/bin/edgectl status")
    if cfg.api.serve:
        from edgectl.api import server

        url = f"https://{cfg.api.listen}:{cfg.api.port}"
        print(f"Administration: {url}/console/   API: {url}/api/v1 (OpenAPI: {url}/api/docs)")
        creds = server.ensure_first_admin(cfg)
        if creds:
            print(f"  first provider admin: {creds[0]} / {creds[1]}"
                  f"   (kept in {server.credentials_file(cfg)})")
    print(f"Logs: {cfg.run_dir / 'logs'}   Stop: make down")


def cmd_node_run(cfg: Config, a: argparse.Namespace) -> None:
    """Replace this process with one daemon of the node, in the foreground,
    configured from the config file (a container's entrypoint)."""
    import os

    from edgectl import stack

    path = cfg_path(a)
    if path is None:
        raise EdgeError("node run needs --config or $EDGE_CONFIG")
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    services = {"kamailio": stack.Kamailio(cfg, path),
                "rtpengine": stack.Rtpengine(cfg)}
    svc = services[a.daemon]
    svc.prepare()
    cmd = svc.command()
    if a.print:
        print(" ".join(cmd))
        return
    os.execvpe(cmd[0], cmd, svc.env())


def cmd_stack_down(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.stack import Stack

    stopped = Stack(cfg, cfg_path=cfg_path(a)).down()
    print("stopped: " + ", ".join(stopped) if stopped else "nothing was running")


def cmd_stack_status(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.stack import Stack

    running = Stack(cfg, cfg_path=cfg_path(a)).running()
    if not running:
        print("not running")
        raise SystemExit(3)
    for name, pid in running.items():
        print(f"{name:<20} pid {pid}")


def register(top: Any, group: Any, json_flag: Any) -> None:
    g = group("node", "one node's daemons in the foreground (containers)")
    sp = g.add_parser("run", help="exec kamailio or rtpengine configured from the config file")
    sp.add_argument("daemon", choices=("kamailio", "rtpengine"))
    sp.add_argument("--print", action="store_true", help="print the command instead")
    sp.set_defaults(fn=cmd_node_run)

    g = group("stack", "the native launcher (make up / make down)")
    sp = g.add_parser("up", help="start PostgreSQL, Redis, rtpengine, sync and Kamailio")
    sp.add_argument("--demo", action=argparse.BooleanOptionalAction, default=True,
                    help="provision the demo dataset into an empty database")
    sp.add_argument("--nodes", type=int, default=1, metavar="N",
                    help="N Kamailio edge nodes acting as one edge (ports +10 per node)")
    sp.set_defaults(fn=cmd_stack_up)
    g.add_parser("down", help="stop every process the stack started").set_defaults(
        fn=cmd_stack_down)
    g.add_parser("status", help="which processes run").set_defaults(fn=cmd_stack_status)
