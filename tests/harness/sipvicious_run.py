"""Run a sipvicious tool from a given source address, optionally with the
User-Agent of an ordinary phone instead of its hard-coded 'friendly-scanner'.

    sipvicious_run.py TOOL SOURCE_IP [--disguised] [tool args...]

Each attack in the tests comes from its own loopback address; sipvicious 0.3
ignores its own -b option in svcrack, so the source is set here on the
tool's scanner class. --disguised is an attacker hiding the tool: the tests
then exercise the enumeration and brute-force defences, not only the scanner
filter."""

import importlib
import inspect
import sys

UA = "Yealink SIP-T46S 66.86.0.15"

tool, source = sys.argv[1], sys.argv[2]
disguised = "--disguised" in sys.argv[3:]
args = [a for a in sys.argv[3:] if a != "--disguised"]
mod = importlib.import_module(f"sipvicious.{tool}")

for obj in list(vars(mod).values()):
    if inspect.isclass(obj) and "bindingip" in inspect.signature(obj.__init__).parameters:
        original_init = obj.__init__

        def init(self, *a, __orig=original_init, **kw):
            kw["bindingip"] = source
            __orig(self, *a, **kw)

        obj.__init__ = init

if disguised:
    original = mod.makeRequest

    def make_request(*a, **kw):
        kw.setdefault("useragent", UA)
        return original(*a, **kw)

    mod.makeRequest = make_request

sys.argv = [f"sipvicious_{tool}"] + args
sys.exit(mod.main())
