"""The DFT warm-start experiment: does a model's moment prediction make GPAW converge faster?

On ``warm_start.slabs`` held-out test slabs the same GPAW single-point SCF (the project's
plane-wave settings and SCF ladder, :mod:`magmom.dft`) is run from each start of :data:`STARTS`;
every run records SCF iterations, wall time, final energy and moments, and whether it reached the
same DFT state as the run from the converged moments.

=============  ===========================================================================
module         concept
=============  ===========================================================================
``starts``     which slabs, and the start moments of each (reads the dataset; runs the model)
``scf``        the SCF runs of one slab from every start, and the same-state comparison
=============  ===========================================================================

The report page is :mod:`magmom.evaluation.report.warm_start`.
"""

STARTS = ("eos_table", "model", "uniform", "converged")
"""The starts: the study's EOS-table moments (what the labeller started from), the model's
prediction, ``warm_start.uniform_magmom`` on every atom, and the slab's DFT-converged moments."""
