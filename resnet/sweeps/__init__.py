"""Depth sweeps (He et al. 2015, Fig. 1 and 6): a grid of plain and residual runs, trained on a backend.

`grid` expands and validates the grid; `driver.run_grid` trains it on a backend (`local`: worker
processes on this machine's cores; `ray_tune`: Ray Tune trials on a cluster; `sequential`: one
after another in this process) and reads the results (`results`) back from the run store.
"""
