"""GPU kernels not yet measured on a GPU: the CUDA-graph, fused and Triton assignments and the
sorted and row-atomic updates.

They are never imported by the default path. ``GKMEANS_CUDA_ASSIGN`` and ``GKMEANS_CUDA_UPDATE``
(:mod:`gkmeans.config`) choose them; :mod:`gkmeans._kernels.dispatch` then asks
:func:`.selection.choose` for the kernel. ``docs/experimental-gpu-kernels.md`` describes them.
"""
