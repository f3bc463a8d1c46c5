"""SparseFusion paper Table3: run through ``bash reproduce/sparsefusion_table3.sh``.

Environment: CO3D_ROOT (real CO3Dv2; selects the paper profile), PROFILE (paper | quick | smoke; default quick
without CO3D_ROOT), CATEGORIES (comma-separated), RUNS_DIR, RESULTS_DIR. See ``sparsefusion.tables``.
"""

from __future__ import annotations

import sys

from sparsefusion.tables import main

if __name__ == "__main__":
    sys.exit(main("table3", sys.argv[1:]))
