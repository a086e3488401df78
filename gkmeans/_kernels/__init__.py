"""The kernel layer: primitives the Array API standard lacks, with native fast paths.

One module a job:

- :mod:`~gkmeans._kernels.primitives`: what the algorithms call (assign, segment sums, ...);
- :mod:`~gkmeans._kernels.dispatch`: which implementation runs for a namespace;
- :mod:`~gkmeans._kernels.workspace`: chunk sizes and the retry with smaller chunks;
- :mod:`~gkmeans._kernels.precision`: ``precision=`` on GPUs;
- :mod:`~gkmeans._kernels.agnostic`: the pure Array API reference and fallback;
- ``numpy_``, ``numba_pass``, ``torch_``, ``cupy_``: the backends' fast paths;
- :mod:`~gkmeans._kernels.experimental`: GPU kernels not yet measured on a GPU, chosen only
  through the configuration (:mod:`gkmeans.config`).

The algorithms import this package and call the names below, so no backend test appears in them.
"""

from gkmeans._compat import to_numpy as to_host
from gkmeans._kernels.agnostic import scatter_rows
from gkmeans._kernels.dispatch import (
    fit_scope,
    free_bytes,
    implementation,
    native_module,
    on_gpu,
    out_of_memory_errors,
    release_workspaces,
)
from gkmeans._kernels.near_ties import exceeds as exceeds_tie_share
from gkmeans._kernels.precision import PRECISIONS, exact_products, matmul_precision
from gkmeans._kernels.primitives import (
    assign,
    assign_and_sum,
    assign_and_sum_batched,
    bounds_kernel,
    closer_distances,
    cluster_distance_sums,
    column_bounds,
    column_mean,
    distance_block,
    distinct_labels,
    exact_ties_needed,
    pairwise_sq_distances,
    row_sq_norms,
    segment_sum,
    spread_about_weighted_mean,
    sq_distances_to_assigned,
    sq_distances_to_rows,
    stream_to_device,
    take_rows,
    tie_screen_ratio,
    weighted_column_sums,
    weighted_inertia,
    weighted_spread,
)
from gkmeans._kernels.workspace import (
    CPU_DISTANCE_BLOCK,
    CPU_WORKSPACE_CAP,
    GPU_WORKSPACE_CAP,
    MIN_WORKSPACE,
    SHIFTED_COPY_MAX_BYTES,
    accumulator_dtype,
    chunk_rows_for,
    gpu_workspace_cap,
    shifted_copy_fits,
    workspace_bytes,
)

__all__ = [
    "CPU_DISTANCE_BLOCK",
    "CPU_WORKSPACE_CAP",
    "GPU_WORKSPACE_CAP",
    "MIN_WORKSPACE",
    "PRECISIONS",
    "SHIFTED_COPY_MAX_BYTES",
    "accumulator_dtype",
    "assign",
    "assign_and_sum",
    "assign_and_sum_batched",
    "bounds_kernel",
    "chunk_rows_for",
    "closer_distances",
    "fit_scope",
    "cluster_distance_sums",
    "column_bounds",
    "column_mean",
    "distance_block",
    "distinct_labels",
    "exact_ties_needed",
    "exceeds_tie_share",
    "exact_products",
    "free_bytes",
    "gpu_workspace_cap",
    "implementation",
    "matmul_precision",
    "native_module",
    "on_gpu",
    "out_of_memory_errors",
    "pairwise_sq_distances",
    "release_workspaces",
    "row_sq_norms",
    "scatter_rows",
    "segment_sum",
    "shifted_copy_fits",
    "spread_about_weighted_mean",
    "sq_distances_to_assigned",
    "sq_distances_to_rows",
    "stream_to_device",
    "take_rows",
    "tie_screen_ratio",
    "to_host",
    "weighted_column_sums",
    "weighted_inertia",
    "weighted_spread",
    "workspace_bytes",
]
