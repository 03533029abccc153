"""Predictor associations with an outcome: univariable and multivariable logistic regression (statsmodels).

Odds ratios with Wald 95% confidence intervals and p-values. Every model states how many patients it
used and how many it left out because a predictor was missing (complete-case analysis, never silent),
and the outcome's own exclusions (line 1 not evaluable) are reported alongside.

Multivariable model, by default: the predictors with published evidence for response in SLE-ITP
(clinical.md §2: SU2022, ZHENG2025, ZHAO2016, KUWANA2006, LIU2021), keeping those missing in at most
``MAX_MISSING_SHARE`` of the patients (a predictor measured in a minority, such as a marrow aspirate,
would shrink the complete cases to that minority); those left out are listed with the reason. With
explicit ``predictors`` every one named is used, whatever its missing share.
"""

from __future__ import annotations

import base64
import html
import io
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sleitp.cohort.analytics.data import BINARY, UNITS, DerivedCohort, Exclusions, outcome_frame
from sleitp.errors import SourceError
from sleitp.features import FEATURE_NAMES
from sleitp.text import significant

DEFAULT_MULTIVARIABLE = (
    "age_years",
    "male",
    "platelets_below_20",
    "c3",
    "nlr",
    "megakaryocytes_below_20",
    "anti_tpo_receptor",
    "anticardiolipin",
    "autoimmune_hemolysis",
    "pregnant",
)
MAX_MISSING_SHARE = 0.20  # a project choice (docs/cohort-analytics.md)
PER = {"age_years": 10.0, "sii": 100.0, "megakaryocytes": 10.0}  # ORs per 10 years, per 100, per 10 cells


@dataclass(frozen=True)
class OddsRatio:
    predictor: str
    per: str  # "yes vs no", "per 10 years", "per 1 g/L" ...
    odds_ratio: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n_used: int
    n_excluded_missing: int
    note: str = ""  # why no estimate (no variation, separation, no convergence)

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Associations:
    outcome: str
    n_evaluable: int
    events: int
    outcome_exclusions: Exclusions
    univariable: list[OddsRatio]
    multivariable: list[OddsRatio]
    multivariable_n_used: int
    multivariable_n_excluded_missing: int
    left_out: dict[str, str] = field(default_factory=dict)  # predictor -> reason (multivariable)

    def to_json(self) -> dict:
        return {
            "outcome": self.outcome,
            "n_evaluable": self.n_evaluable,
            "events": self.events,
            "outcome_excluded": self.outcome_exclusions.to_json(),
            "univariable": [r.to_json() for r in self.univariable],
            "multivariable": {
                "n_used": self.multivariable_n_used,
                "n_excluded_missing": self.multivariable_n_excluded_missing,
                "left_out": self.left_out,
                "odds_ratios": [r.to_json() for r in self.multivariable],
            },
        }

    def figure(self):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = [r.predictor for r in self.univariable]
        multi = {r.predictor: r for r in self.multivariable}
        fig, ax = plt.subplots(figsize=(8, 0.9 + 0.32 * len(names)))
        y = np.arange(len(names))[::-1]
        for offset, rows, color, label in (
            (0.15, {r.predictor: r for r in self.univariable}, "tab:blue", "univariable"),
            (-0.15, multi, "tab:red", "multivariable"),
        ):
            pts = [
                (yy + offset, rows[n])
                for yy, n in zip(y, names, strict=True)
                if n in rows and rows[n].odds_ratio is not None and rows[n].ci_low is not None
            ]
            if not pts:
                continue
            ys = [p[0] for p in pts]
            ors = np.array([p[1].odds_ratio for p in pts])
            lo = np.array([p[1].ci_low for p in pts])
            hi = np.array([p[1].ci_high for p in pts])
            ax.errorbar(
                ors, ys, xerr=[ors - lo, hi - ors], fmt="o", color=color, label=label, capsize=2, ms=4
            )
        ax.axvline(1.0, color="0.5", lw=1, ls="--")
        ax.set_xscale("log")
        ax.set_yticks(y)
        ax.set_yticklabels([f"{n} ({self._per(n)})" for n in names], fontsize=8)
        ax.set_xlabel(f"odds ratio of {self.outcome} (95% CI, log scale)")
        ax.set_title(f"Predictors of {self.outcome}: n = {self.n_evaluable} evaluable, {self.events} events")
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        return fig

    def _per(self, name: str) -> str:
        return next((r.per for r in self.univariable if r.predictor == name), "")

    def save_png(self, path: str) -> None:
        import matplotlib.pyplot as plt

        fig = self.figure()
        fig.savefig(path, format="png", dpi=120)
        plt.close(fig)

    def to_html(self) -> str:
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig = self.figure()
        fig.savefig(buf, format="png", dpi=110)
        plt.close(fig)
        img = base64.b64encode(buf.getvalue()).decode()

        def rows(items: list[OddsRatio]) -> str:
            return "".join(
                f"<tr><td>{html.escape(r.predictor)}</td><td>{html.escape(r.per)}</td>"
                f"<td>{significant(r.odds_ratio)}</td>"
                f"<td>{significant(r.ci_low)} - {significant(r.ci_high)}</td><td>{_p_value(r.p_value)}</td>"
                f"<td>{r.n_used}</td>"
                f"<td>{r.n_excluded_missing}</td><td>{html.escape(r.note)}</td></tr>"
                for r in items
            )

        head = (
            "<tr><th>predictor</th><th>per</th><th>OR</th><th>95% CI</th><th>p</th><th>N used</th>"
            "<th>N excluded (missing)</th><th>note</th></tr>"
        )
        excl = ", ".join(f"{k}: {v}" for k, v in self.outcome_exclusions.counts.items()) or "none"
        left = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in self.left_out.items())
        return (
            "<!doctype html><html><head><meta charset='utf-8'><title>Predictor associations</title>"
            "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>"
            f"<h1>Predictors of {html.escape(self.outcome)}</h1>"
            f"<p>{self.n_evaluable} evaluable patients, {self.events} with the outcome. Not evaluable: "
            f"{html.escape(excl)}.</p><img alt='forest plot' src='data:image/png;base64,{img}'>"
            f"<h2>Univariable</h2><table>{head}{rows(self.univariable)}</table>"
            f"<h2>Multivariable (N used {self.multivariable_n_used}, excluded for missing values "
            f"{self.multivariable_n_excluded_missing})</h2><table>{head}{rows(self.multivariable)}</table>"
            + (f"<p>Left out of the multivariable model:</p><ul>{left}</ul>" if left else "")
            + "</body></html>"
        )


def _p_value(p: float | None) -> str:
    return "" if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}")


def _per_label(name: str) -> str:
    if name in BINARY:
        return "yes vs no"
    scale = PER.get(name, 1.0)
    unit = UNITS.get(name, "")
    return f"per {scale:g} {unit}".strip()


def _design(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    x = pd.DataFrame(index=frame.index)
    for n in names:
        x[n] = frame[n].astype("float64") / PER.get(n, 1.0)  # booleans -> 0/1
    return x


def _fit(y: pd.Series, x: pd.DataFrame) -> tuple[dict[str, OddsRatio] | None, str]:
    """Fit a logistic model; (odds ratios by name, "") or (None, why it could not be estimated)."""
    import statsmodels.api as sm

    if len(y) == 0:
        return None, "not measured in any evaluable patient"
    for c in x.columns:
        if x[c].nunique() < 2:
            return None, f"{c} does not vary among the patients used"
    if y.nunique() < 2:
        return None, "the outcome does not vary among the patients used"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # separation and convergence warnings become failures we report
        try:
            res = sm.Logit(y.astype(float), sm.add_constant(x, has_constant="add")).fit(disp=0, maxiter=200)
        except np.linalg.LinAlgError:
            return None, "singular design (predictors are collinear)"
        except Exception as e:  # PerfectSeparationError/Warning, ConvergenceWarning, overflow
            return None, f"not estimable ({type(e).__name__}: separation or no convergence)"
    if not res.mle_retvals.get("converged", True):
        return None, "the model did not converge"
    ci = res.conf_int(alpha=0.05)
    out = {}
    for c in x.columns:
        b, lo, hi = float(res.params[c]), float(ci.loc[c, 0]), float(ci.loc[c, 1])
        if not all(map(math.isfinite, (b, lo, hi))) or abs(b) > 50:
            return None, "not estimable (infinite odds ratio: separation)"
        out[c] = OddsRatio(
            c, _per_label(c), math.exp(b), math.exp(lo), math.exp(hi), float(res.pvalues[c]), 0, 0
        )
    return out, ""


def associations(
    cohort: DerivedCohort, outcome: str = "first_line_response", predictors: list[str] | None = None
) -> Associations:
    """Univariable ORs for every predictor; a multivariable model over ``predictors`` (default above)."""
    frame, excl = outcome_frame(cohort, outcome)
    if frame.empty:
        raise SourceError(f"{cohort.source}: no patient with an evaluable {outcome}")
    if predictors is not None:
        unknown = [p for p in predictors if p not in FEATURE_NAMES]
        if unknown:
            raise SourceError(
                f"--predictors: unknown predictor(s) {', '.join(unknown)} "
                f"(expected names from: {', '.join(FEATURE_NAMES)})"
            )
    y = frame[outcome]
    n = len(frame)
    uni = []
    for name in FEATURE_NAMES:
        ok = frame[name].notna()
        fitted, why = _fit(y[ok], _design(frame.loc[ok], [name]))
        used = int(ok.sum())
        if fitted is None:
            uni.append(OddsRatio(name, _per_label(name), None, None, None, None, used, n - used, why))
        else:
            r = fitted[name]
            uni.append(OddsRatio(name, r.per, r.odds_ratio, r.ci_low, r.ci_high, r.p_value, used, n - used))

    left_out: dict[str, str] = {}
    if predictors is None:
        chosen = []
        for name in DEFAULT_MULTIVARIABLE:
            share = float(frame[name].isna().mean())
            if share > MAX_MISSING_SHARE:
                left_out[name] = f"missing in {share:.0%} of patients (> {MAX_MISSING_SHARE:.0%})"
            elif frame[name].dropna().nunique() < 2:
                left_out[name] = "does not vary in this cohort"
            else:
                chosen.append(name)
    else:
        chosen = list(dict.fromkeys(predictors))
    ok = frame[chosen].notna().all(axis=1) if chosen else pd.Series(True, index=frame.index)
    used = int(ok.sum())
    multi: list[OddsRatio] = []
    if chosen:
        fitted, why = _fit(y[ok], _design(frame.loc[ok], chosen))
        for name in chosen:
            if fitted is None:
                multi.append(OddsRatio(name, _per_label(name), None, None, None, None, used, n - used, why))
            else:
                r = fitted[name]
                multi.append(
                    OddsRatio(name, r.per, r.odds_ratio, r.ci_low, r.ci_high, r.p_value, used, n - used)
                )
    return Associations(outcome, n, int(y.sum()), excl, uni, multi, used, n - used, left_out)


__all__ = ["DEFAULT_MULTIVARIABLE", "MAX_MISSING_SHARE", "Associations", "OddsRatio", "associations"]
