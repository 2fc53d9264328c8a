#!/usr/bin/env bash
# Prints a TCP port on 127.0.0.1 that the kernel has just picked as free (a bind to port 0), for
# the MASTER_PORT of a job a script starts: two scripts (or a script and the tests, whose
# run_self_as_ranks does the same) then never meet on one port, as RANDOM-chosen ports could.
# Usage: port=$(scripts/free-port.sh)
exec "${TOMOGRAD_PYTHON:-python3}" -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
