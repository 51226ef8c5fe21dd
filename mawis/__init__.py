"""mawis: solder-joint lifetime prediction from inspection images.

Pipeline stages, one sub-package each:

* :mod:`mawis.batch` - batch I/O and contract-v1 validation
* :mod:`mawis.sim` - the virtual test lab (simulated inspection campaigns)
* :mod:`mawis.reports` - figures and reports
* :mod:`mawis.cli` - the ``mawis`` command line, a thin layer over the above
"""

__version__ = "0.1.0"
