"""One MPI rank of a DFT job: ``python -m magmom.dft.mpi_worker spec.json``.

Started by :func:`magmom.dft.parallel.run_under_mpi` on every rank; ``spec.json`` holds
``{"function": "module:name", "kwargs": {...}, "output": path, "write": "module:name"}``: every
rank runs ``function(**kwargs)``, rank 0 writes its result with ``write(output, result)``. Rank 0
logs at INFO, the others at WARNING (their lines are prefixed with the rank). A failing rank
aborts the whole world, so no rank waits forever on a collective the failed one never reaches.
"""

from __future__ import annotations

import json
import logging
import sys


def main(spec_path: str) -> None:
    from magmom.dft.parallel import resolve, world

    comm = world()
    logging.basicConfig(
        level=logging.INFO if comm.rank == 0 else logging.WARNING,
        format=f"%(asctime)s %(levelname)s [rank {comm.rank}/{comm.size}] %(name)s: %(message)s",
        stream=sys.stdout,
    )
    with open(spec_path) as fh:
        spec = json.load(fh)
    function, write = resolve(spec["function"]), resolve(spec["write"])
    try:
        result = function(**spec["kwargs"])
        if comm.rank == 0:
            write(spec["output"], result)
    except BaseException:
        logging.getLogger(__name__).exception("rank %d failed", comm.rank)
        sys.stdout.flush()
        if comm.size > 1:
            comm.abort(1)
        raise


if __name__ == "__main__":
    main(sys.argv[1])
