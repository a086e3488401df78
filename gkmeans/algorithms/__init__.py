"""Algorithms written once against the Array API: Lloyd, restarts run together, the
initialisations, k-means||, the empty-cluster policies, the predict rule and mini-batch steps.

They take ``xp`` and arrays already on the compute device; the pipelines above place the data.
"""
