"""Policies: feature maps (:mod:`.features`) and the conditional log-linear and product policies with their
conditional probability tables (:mod:`.conditional`)."""

from .conditional import (
    ConditionalLogLinearPolicy,
    ConditionalTables,
    ProductPolicy,
    as_tables,
    check_radius,
    context_counts,
    context_index,
    project_to_ball,
    uniform_tables,
)
from .features import NORM_TOL, ArrayFeatures, TabularFeatures, random_features

__all__ = [
    "NORM_TOL",
    "ArrayFeatures",
    "ConditionalLogLinearPolicy",
    "ConditionalTables",
    "ProductPolicy",
    "TabularFeatures",
    "as_tables",
    "check_radius",
    "context_counts",
    "context_index",
    "project_to_ball",
    "random_features",
    "uniform_tables",
]
