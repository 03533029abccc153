"""Cohort analytics on a ``cohort derive`` output directory (spec/cli.md; docs/cohort-analytics.md).

* :func:`table1` - the patients' characteristics at the first line's start (tableone);
* :func:`km` - time to response by line or by a predictor (lifelines Kaplan-Meier, number at risk);
* :func:`associations` - univariable and multivariable logistic regression (statsmodels), forest plot.

Each result has ``to_json()`` and ``to_html()``; the command line (``sleitp cohort table1 | km |
associations``) prints Rich tables. The analyses never modify the frames they read.
"""

from __future__ import annotations

from sleitp.cohort.analytics.associations import DEFAULT_MULTIVARIABLE, Associations, OddsRatio, associations
from sleitp.cohort.analytics.data import DerivedCohort, Exclusions, load_derived, outcome_frame
from sleitp.cohort.analytics.km import KmGroup, KmResult, km
from sleitp.cohort.analytics.table1 import Table1, table1

__all__ = [
    "DEFAULT_MULTIVARIABLE",
    "Associations",
    "DerivedCohort",
    "Exclusions",
    "KmGroup",
    "KmResult",
    "OddsRatio",
    "Table1",
    "associations",
    "km",
    "load_derived",
    "outcome_frame",
    "table1",
]
