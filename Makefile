# The two commands of the README: `make up` and `make test`.
# Both install what is missing first (scripts/bootstrap.sh, idempotent).

VENV    := .venv
EDGECTL := $(VENV)/bin/edgectl
PYTEST  := $(VENV)/bin/pytest

.PHONY: deps up down status test unit bench soak stubs

deps:
	@scripts/bootstrap.sh

## make up: start the edge locally (PostgreSQL, Redis, rtpengine, sync, Kamailio) with a demo dataset
## NODES=3: three edge nodes acting as one (ports 5060, 5070, 5080)
up: deps
	@$(EDGECTL) stack up $(if $(NODES),--nodes $(NODES))

## make down: stop every process `make up` started (by PID)
down:
	@if [ -x $(EDGECTL) ]; then $(EDGECTL) stack down; else echo "nothing to stop"; fi

## make status: what is running (a stopped stack is "not running", not a make error)
status:
	@if [ -x $(EDGECTL) ]; then $(EDGECTL) stack status || [ $$? -eq 3 ]; else echo "not running"; fi

## make test: the whole suite (unit, KSR-stub route tests, integration against real daemons):
## two pytest-xdist workers, a test file each at a time (the suite mostly waits on daemons),
## then the `serial` tests (load and seconds-long windows) alone; fails if either pass fails
test: deps
	@$(PYTEST) -q --durations=25 -n 2 --dist loadfile -m "not serial" tests; a=$$?; \
	 $(PYTEST) -q --durations=25 -m serial tests; b=$$?; \
	 test $$a -eq 0 -a $$b -eq 0

unit: deps
	@$(PYTEST) -q tests/unit tests/route

## make bench: the edge against native Kamailio (loadtest/baseline), side by side:
## REGISTER/s, call setups/s, latency, memory per device, scaling; a table with
## targets and loadtest/results/bench-<time>.json (not part of the suite)
bench: deps
	@$(VENV)/bin/python loadtest/bench.py $(BENCH_ARGS)

## make soak: N minutes of mixed traffic (REGISTER refreshes, calls with and without
## NAT, calls to unregistered numbers, wrong passwords) against a private edge,
## printing what grew and what did not return afterwards (not part of the suite);
## e.g. make soak SOAK_ARGS="--minutes 20 --rate 30"
soak: deps
	@$(VENV)/bin/python loadtest/soak.py $(SOAK_ARGS)

## make stubs: regenerate kemi/stubs/KSR.py from the installed Kamailio
stubs: deps
	@$(VENV)/bin/python scripts/gen_ksr_stubs.py --start-kamailio
