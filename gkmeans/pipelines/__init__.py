"""Fit pipelines: how an input is processed, chosen once by :mod:`.router` (in memory, streamed
or on Dask), with the parameters checked once (:mod:`.params`).
"""
