"""tav-edge training toolchain (see docs/model.md and docs/data.md)."""
import os

# On a shared 2-core machine, OpenMP threads that spin while waiting burn 10x the CPU time of
# the work itself (measured: 5.5 CPU-s vs 0.49 CPU-s per DiT step with 2 threads). Must be set
# before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
