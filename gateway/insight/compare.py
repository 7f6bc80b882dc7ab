"""Did footfall really change? Two series of daily totals, one negative-binomial model.

Daily footfall is over-dispersed (the day-to-day spread is far above Poisson's, from weather,
events and the like) and weekly-seasonal, so a Poisson test or a plain t-test of means calls
chance "significant" far too often. The model here is a negative-binomial GLM (NB2, dispersion
by maximum likelihood; statsmodels `NegativeBinomial`) of the daily totals:

    log E[count] = log(exposure) + weekday effect + change * [day is in B]

for two periods (A before, B after). For two doors, zones or sites over the SAME days the days
are paired: weather hits both doors alike, so the model conditions on each day's total and
asks only how it splits (a quasi-binomial GLM of B's share), leaving only the difference
between the series to chance. The change is exp(coefficient) - 1 with a 95% interval
and p-value from the fitted model (see `_fit_nb` for the small-sample care).

The planning answer, days needed per period to detect a change of X% at alpha 0.05 with power
0.8, comes from statsmodels' power of the two-sample negative-binomial rate-ratio test
(`power_negbin_ratio_2indep`, Zhu 2017), fed the fitted mean and dispersion (the dispersion left
after the weekday or day effects). A test checks it against simulation from the fitted model.

Any non-negative series can stand in for counts: a visitor KPI from issue 15 that is a count
(visitors) plugs in as it is; a rate (visitors per open hour, conversions per visitor) as its
numerator with the denominator as `exposure`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from gateway.errors import DoorcountError

if TYPE_CHECKING:
    import pandas as pd

MIN_DAYS = 7
"""Each period needs every weekday at least once, or weekday and period are confounded."""
MAX_DAYS_NEEDED = 3650


class CompareError(DoorcountError, ValueError):
    """The series cannot be compared (too short, empty, or the model does not fit)."""


@dataclass(frozen=True, slots=True)
class Comparison:
    a: str
    b: str
    design: str  # "periods" (A then B, weekday effects) or "paired" (same days, day effects)
    days_a: int
    days_b: int
    mean_a: float  # mean daily total as observed
    mean_b: float
    change: float  # B relative to A: 0.12 is +12 %, adjusted for weekdays (or days)
    ci_low: float
    ci_high: float
    p_value: float
    dispersion: float
    """periods: NB2 alpha at A's mean (variance = mean + alpha * mean^2), Pearson scale
    included; paired: the quasi-binomial Pearson scale of B's daily share (1 = binomial)."""
    detect: float
    days_needed: int | None  # per period, for `detect` at alpha 0.05 and power 0.8
    closed_weekdays: tuple[str, ...]
    assumptions: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["closed_weekdays"] = list(self.closed_weekdays)
        out["assumptions"] = list(self.assumptions)
        return out


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def compare(
    a: pd.Series,
    b: pd.Series,
    *,
    detect: float = 0.10,
    alpha: float = 0.05,
    power: float = 0.8,
    names: tuple[str, str] = ("A", "B"),
    exposure_a: pd.Series | None = None,
    exposure_b: pd.Series | None = None,
) -> Comparison:
    """Compare daily totals `b` with `a` (Series on a DatetimeIndex of days)."""
    import numpy as np
    import pandas as pd

    for name, series in zip(names, (a, b), strict=True):
        if len(series) < MIN_DAYS:
            raise CompareError(
                f"{name} has {len(series)} whole day(s); a comparison needs at least {MIN_DAYS} "
                "(each weekday once) in each"
            )
        if float(series.sum()) <= 0:
            raise CompareError(f"{name} counts nobody on any day")
    if not 0 < detect < 10:
        raise CompareError(f"the change to detect must be between 0 and 1000 %, got {detect:.0%}")
    days_a = pd.DatetimeIndex(a.index).normalize()
    days_b = pd.DatetimeIndex(b.index).normalize()
    paired = days_a.equals(days_b)
    if not paired and len(days_a.intersection(days_b)):
        raise CompareError(
            f"{names[0]} and {names[1]} overlap in part: give two separate periods, "
            "or two series over the same days"
        )
    frame = pd.DataFrame(
        {
            "y": np.concatenate([a.to_numpy(float), b.to_numpy(float)]),
            "b": np.r_[np.zeros(len(a)), np.ones(len(b))],
            "day": np.concatenate([days_a.tz_localize(None), days_b.tz_localize(None)]),
            "exposure": np.concatenate(
                [_exposure(exposure_a, len(a)), _exposure(exposure_b, len(b))]
            ),
        }
    )
    if (frame["exposure"] <= 0).any():
        raise CompareError("an exposure is zero or negative")
    frame["weekday"] = pd.DatetimeIndex(frame["day"]).day_of_week
    # A weekday with no count in either series is a closed day: no information, and its
    # effect would run off to minus infinity.
    totals = frame.groupby("weekday")["y"].sum()
    closed = tuple(WEEKDAYS[d] for d in totals.index[totals <= 0])
    frame = frame[frame["y"].gt(0) | ~frame["weekday"].isin(totals.index[totals <= 0])]
    mean_a = float(a.mean())
    mean_b = float(b.mean())
    per_day_exposure = float(frame["exposure"].mean())
    quasi = False
    if paired:
        coef, low, high, p_value, dispersion, rate = _paired(frame, alpha)
        needed = days_needed(rate, 0.0, detect, alpha=alpha, power=power)
    else:
        effects = pd.get_dummies(frame["weekday"], prefix="w", drop_first=True, dtype=float)
        exog = pd.concat(
            [pd.Series(1.0, index=frame.index, name="const"), frame["b"], effects], axis=1
        )
        fit, ml_alpha, quasi = _fit_nb(frame["y"], exog, np.log(frame["exposure"]))
        coef = float(fit.params["b"])
        low, high = (float(x) for x in fit.conf_int(alpha=alpha).loc["b"])
        p_value = float(fit.pvalues["b"])
        # One NB2 dispersion with the Pearson scale folded in, at A's mean: the spread the
        # planning figure has to beat.
        mu = max(mean_a / per_day_exposure, 1e-9)
        dispersion = max(0.0, (float(fit.scale) * (mu + ml_alpha * mu * mu) - mu) / (mu * mu))
        needed = days_needed(
            mu, dispersion, detect, alpha=alpha, power=power, exposure=per_day_exposure
        )
    assumptions = (
        (
            "paired days: each day has its own level shared by both series (weather, events); "
            "given a day's total, B's share is binomial with extra spread (quasi-binomial, "
            "dispersion = Pearson scale); the ratio between the series is constant over the days"
            if paired
            else "daily totals are negative-binomial (NB2) around the model's mean, independent "
            "from day to day; each weekday has its own level, the same in both periods; the "
            "change multiplies every weekday alike; nothing else (season, holidays, weather "
            "trend) differs between the periods"
        ),
        "95 % interval and p-value of the change coefficient from t on the residual degrees "
        "of freedom, spread scaled by the Pearson statistic",
        f"days needed: power of the negative-binomial rate-ratio test (statsmodels) at alpha "
        f"{alpha} and power {power} for the mean and dispersion fitted here, equal days in both",
        *(
            [
                "the negative-binomial dispersion has no maximum here (the days vary hardly "
                "more than chance): quasi-Poisson, spread from the Pearson scale"
            ]
            if quasi
            else []
        ),
        *(
            [f"closed weekdays left out (no count in either series): {', '.join(closed)}"]
            if closed
            else []
        ),
    )
    return Comparison(
        a=names[0],
        b=names[1],
        design="paired" if paired else "periods",
        days_a=len(a),
        days_b=len(b),
        mean_a=round(mean_a, 3),
        mean_b=round(mean_b, 3),
        change=math.expm1(coef),
        ci_low=math.expm1(low),
        ci_high=math.expm1(high),
        p_value=p_value,
        dispersion=dispersion,
        detect=detect,
        days_needed=needed,
        closed_weekdays=closed,
        assumptions=assumptions,
    )


def _paired(frame: pd.DataFrame, alpha: float) -> tuple[float, float, float, float, float, float]:
    """Same days: condition on each day's total, so the day's level drops out; B's share is
    quasi-binomial (logit of the share = log rate ratio + log exposure ratio). Returns the log
    ratio, its interval, p, the Pearson dispersion, and A's daily count per unit of that
    dispersion (the effective Poisson rate the planning figure uses)."""
    import numpy as np
    import statsmodels.api as sm

    a = frame[frame["b"] == 0].set_index("day")
    b = frame[frame["b"] == 1].set_index("day")
    days = a.index.intersection(b.index)
    a, b = a.loc[days], b.loc[days]
    keep = (a["y"] + b["y"]).to_numpy() > 0
    if keep.sum() < MIN_DAYS:
        raise CompareError(f"fewer than {MIN_DAYS} days on which either series counts anyone")
    # The share with the day's total as variance weight: statsmodels' two-column (successes,
    # failures) form computes the Pearson scale on unweighted shares, far too small.
    total = a["y"].to_numpy()[keep] + b["y"].to_numpy()[keep]
    share = b["y"].to_numpy()[keep] / total
    offset = np.log(b["exposure"].to_numpy()[keep] / a["exposure"].to_numpy()[keep])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            fit = sm.GLM(
                share,
                np.ones((len(share), 1)),
                family=sm.families.Binomial(),
                offset=offset,
                var_weights=total,
            ).fit(scale="X2", use_t=True)
        except (Warning, ValueError, np.linalg.LinAlgError) as exc:
            raise CompareError(f"the paired model does not fit these series: {exc}") from None
    coef = float(fit.params[0])
    low, high = (float(x) for x in fit.conf_int(alpha=alpha)[0])
    phi = max(float(fit.scale), 1e-9)
    rate = float(a["y"].to_numpy()[keep].mean() / a["exposure"].to_numpy()[keep].mean())
    return coef, low, high, float(fit.pvalues[0]), phi, rate / max(phi, 1.0)


def _exposure(exposure: pd.Series | None, n: int) -> Any:
    import numpy as np

    if exposure is None:
        return np.ones(n)
    if len(exposure) != n:
        raise CompareError(f"the exposure has {len(exposure)} days, the counts {n}")
    return exposure.to_numpy(float)


def _fit_nb(y: pd.Series, exog: pd.DataFrame, offset: Any) -> tuple[Any, float, bool]:
    """NB2 in two steps: the dispersion by maximum likelihood (statsmodels `NegativeBinomial`),
    then the GLM at that dispersion with a Pearson scale on the residual degrees of freedom and
    t-based inference. The maximum-likelihood dispersion alone runs low on a few weeks of days
    (the Wald test then says "significant" ~7 % of the time at 5 %); the scale and t restore
    the nominal rate (tests/insight/test_compare.py). A fit that does not converge is an error,
    not a figure."""
    import numpy as np
    import statsmodels.api as sm
    from statsmodels.discrete.discrete_model import NegativeBinomial
    from statsmodels.tools.sm_exceptions import (
        ConvergenceWarning,
        HessianInversionWarning,
        PerfectSeparationWarning,
    )

    problems = (ConvergenceWarning, HessianInversionWarning, PerfectSeparationWarning)
    alpha: float | None = None
    with warnings.catch_warnings():
        for category in problems:
            warnings.simplefilter("error", category)
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow probes inside the optimiser
        for method in ("bfgs", "newton"):
            try:
                ml = NegativeBinomial(y, exog, loglike_method="nb2", offset=offset).fit(
                    method=method, maxiter=500, disp=0
                )
            except (*problems, ValueError, np.linalg.LinAlgError):
                continue
            if ml.mle_retvals.get("converged", False) and np.isfinite(ml.params["alpha"]):
                alpha = max(float(ml.params["alpha"]), 1e-8)
                break
        # No maximum: the dispersion sits at the Poisson boundary (days hardly vary beyond
        # chance). Quasi-Poisson then: Poisson mean model, spread from the Pearson scale.
        quasi = alpha is None
        try:
            fit = sm.GLM(
                y,
                exog,
                family=sm.families.NegativeBinomial(alpha=alpha or 1e-8),
                offset=offset,
            ).fit(scale="X2", use_t=True)
        except (*problems, ValueError, np.linalg.LinAlgError) as exc:
            raise CompareError(
                f"the negative-binomial model does not fit these series: {exc}"
            ) from None
    if not np.isfinite(fit.params).all() or not np.isfinite(fit.bse).all():
        raise CompareError("the negative-binomial model does not fit these series")
    return fit, (alpha or 0.0), quasi


def days_needed(
    rate: float,
    dispersion: float,
    detect: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    exposure: float = 1.0,
) -> int | None:
    """Fewest days in each period for which the NB rate-ratio test has `power` to detect a
    change of `detect` (relative) from `rate` per unit exposure; None beyond ten years."""
    from statsmodels.stats.rates import power_negbin_ratio_2indep

    def achieved(days: int) -> float:
        return float(
            power_negbin_ratio_2indep(
                rate * (1 + detect),
                rate,
                days,
                exposure=exposure,
                alpha=alpha,
                dispersion=max(dispersion, 1e-12),
                return_results=False,
            )
        )

    if achieved(MAX_DAYS_NEEDED) < power:
        return None
    low, high = 1, MAX_DAYS_NEEDED  # achieved(high) >= power; power grows with the days
    while low < high:
        middle = (low + high) // 2
        if achieved(middle) >= power:
            high = middle
        else:
            low = middle + 1
    return max(low, MIN_DAYS)
