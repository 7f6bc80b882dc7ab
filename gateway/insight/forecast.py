"""Hourly forecasts with prediction intervals, and the rolling-origin backtest that chose them.

Models (all take hourly counts on a DatetimeIndex, local time):

- `naive`: the seasonal-naive baseline, the same hour last week; its interval is the same hour
  last week plus the 10th..90th percentiles of its own past errors.
- `profile` (the default): a Poisson GLM of the last eight weeks on 168 hour-of-week factors
  (statsmodels; recent weeks weigh more, half-life four weeks), scaled by the recent level
  (yesterday's total against the profile's, to the power 0.5), with negative-binomial
  prediction intervals whose dispersion is the moment estimate of the weighted residuals.
- `stl-ets`: STL on log1p counts with a 168-hour season, damped-trend ETS on the rest
  (statsmodels `STLForecast` + `ETSModel`), intervals back-transformed.

Chosen by measured backtest (`doorcount forecast backtest`, figures in docs/insight.md): on
the Burke-Gilman trail counts `profile` has the lowest MASE and an 80 % interval that covers
about 80 %, and fits in milliseconds; `stl-ets` is a second slower and its log-scale Gaussian
interval is too narrow at low counts.

Closed days (a list of dates) are left out of every fit and forecast as 0 with a 0..0 interval;
holidays are forecast and fitted as Sundays.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from gateway.errors import DoorcountError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

WEEK = 168
MIN_HISTORY = 2 * WEEK
"""Two weeks: one to learn each hour of the week, one more to learn how far it strays."""
WINDOW_WEEKS = 8
HALF_LIFE_WEEKS = 4.0
LEVEL_POWER = 0.5
"""How much of yesterday's surprise carries into the forecast (0 none, 1 all); 0.5 measured
best on the 2014-2015 trail counts (docs/insight.md), 2019 held out."""
LEVEL = 0.8
MODELS = ("profile", "naive", "stl-ets")


class ForecastError(DoorcountError, ValueError):
    """The series cannot be forecast (too short, not hourly, a model that does not fit)."""


@dataclass(frozen=True)
class Calendar:
    """Days that are not ordinary: closed (no one comes) and holidays (like a Sunday)."""

    closed: frozenset[date] = frozenset()
    holidays: frozenset[date] = frozenset()

    def weekday_hours(self, index: pd.DatetimeIndex) -> np.ndarray:
        """Hour of the week 0..167 (Monday 00:00 is 0); holidays take Sunday's."""
        import numpy as np

        days = np.asarray(index.day_of_week)
        if self.holidays:
            holiday = np.asarray([d in self.holidays for d in index.date])
            days = np.where(holiday, 6, days)
        return np.asarray(days * 24 + np.asarray(index.hour))

    def is_closed(self, index: pd.DatetimeIndex) -> np.ndarray:
        import numpy as np

        if not self.closed:
            return np.zeros(len(index), dtype=bool)
        return np.asarray([d in self.closed for d in index.date])


@dataclass(frozen=True)
class Forecast:
    """Mean and a central prediction interval per future hour."""

    model: str
    level: float
    frame: pd.DataFrame  # index: the future hours; columns mean, lower, upper

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "time": t.isoformat(),
                "mean": round(float(r["mean"]), 3),
                "lower": float(r["lower"]),
                "upper": float(r["upper"]),
            }
            for t, r in self.frame.iterrows()
        ]


def future_index(history: pd.Series, horizon: int) -> pd.DatetimeIndex:
    import pandas as pd

    last = history.index[-1]
    return pd.date_range(last + pd.Timedelta(hours=1), periods=horizon, freq="h")


def check_history(history: pd.Series, need: int = MIN_HISTORY) -> None:
    if len(history) < need:
        raise ForecastError(
            f"needs at least {need} hours ({need // 24} days) of hourly history to learn the "
            f"week's shape, got {len(history)}"
        )


def forecast(
    history: pd.Series,
    horizon: int = 48,
    *,
    model: str = "profile",
    level: float = LEVEL,
    calendar: Calendar | None = None,
) -> Forecast:
    """Forecast the `horizon` hours after `history` (hourly counts, regular index)."""
    if model not in MODELS:
        raise ForecastError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if horizon < 1:
        raise ForecastError(f"the horizon must be at least one hour, got {horizon}")
    if not 0 < level < 1:
        raise ForecastError(f"the interval level must be between 0 and 1, got {level}")
    check_history(history)
    calendar = calendar or Calendar()
    predict = _PREDICTORS[model]
    mean, lower, upper = predict(history, horizon, level, calendar)
    import numpy as np
    import pandas as pd

    index = future_index(history, horizon)
    closed = calendar.is_closed(index)
    frame = pd.DataFrame(
        {
            "mean": np.where(closed, 0.0, np.maximum(mean, 0.0)),
            "lower": np.where(closed, 0.0, np.maximum(lower, 0.0)),
            "upper": np.where(closed, 0.0, np.maximum(upper, 0.0)),
        },
        index=index,
    )
    return Forecast(model, level, frame)


# -- models ----------------------------------------------------------------------------------

Arrays = tuple["np.ndarray", "np.ndarray", "np.ndarray"]


def _naive(history: pd.Series, horizon: int, level: float, calendar: Calendar) -> Arrays:
    """Same hour last week (for horizons past a week, the week before that, and so on)."""
    import numpy as np

    y = history.to_numpy(float)
    steps = np.arange(horizon)
    mean = y[len(y) - WEEK + steps % WEEK]
    errors = (y[WEEK:] - y[:-WEEK])[-WINDOW_WEEKS * WEEK :]
    open_hours = ~calendar.is_closed(history.index[WEEK:])[-WINDOW_WEEKS * WEEK :]
    errors = errors[open_hours] if open_hours.any() else errors
    tail = (1 - level) / 2
    low, high = np.quantile(errors, [tail, 1 - tail])
    return mean, mean + low, mean + high


def _profile(history: pd.Series, horizon: int, level: float, calendar: Calendar) -> Arrays:
    import numpy as np
    import pandas as pd
    import statsmodels.api as sm
    from scipy import stats
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    recent = history.iloc[-WINDOW_WEEKS * WEEK :]
    y = recent.to_numpy(float)
    index = pd.DatetimeIndex(recent.index)
    hours = calendar.weekday_hours(index)
    age_weeks = (len(y) - np.arange(len(y))) / WEEK
    weights = 0.5 ** (age_weeks / HALF_LIFE_WEEKS)
    weights[calendar.is_closed(index)] = 0.0
    # An hour of the week with nobody in the window (a closed hour) is forecast as 0; a GLM
    # factor for it would run off to minus infinity.
    totals = np.bincount(hours, weights * y, WEEK)
    exposure = np.bincount(hours, weights, WEEK)
    seen = (totals > 0) & (exposure > 0)
    if not seen.any():
        raise ForecastError("the history counts nobody on any open hour")
    fitted_hours = seen[hours] & (weights > 0)
    # The Poisson GLM on 168 hour-of-week factors, fitted on its sufficient statistics (the
    # weighted count per hour of the week, the summed weights as exposure): the same
    # estimates as the row-level fit, in a 168-row problem instead of a 1344-row one.
    # Saturated on purpose (no residual degrees of freedom): statsmodels' perfect-prediction
    # check and its residual-scale division complain about any exact fit; what matters is
    # that the fit converged to finite estimates, checked below.
    factors = np.eye(int(seen.sum()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            fit = sm.GLM(
                totals[seen], factors, family=sm.families.Poisson(), exposure=exposure[seen]
            ).fit()
        except (Warning, ValueError, np.linalg.LinAlgError) as exc:
            raise ForecastError(f"the hour-of-week model does not fit: {exc}") from None
    if not fit.converged or not np.isfinite(fit.params).all():
        raise ForecastError("the hour-of-week model did not converge")
    profile = np.zeros(WEEK)
    profile[seen] = np.exp(np.asarray(fit.params))
    expected = profile[hours]
    # The recent level: the last open day's total against what the profile expected of it.
    last_day = np.flatnonzero(weights > 0)[-24:]
    ratio = (y[last_day].sum() + 1.0) / (expected[last_day].sum() + 1.0)
    future = future_index(history, horizon)
    mean = profile[calendar.weekday_hours(future)] * ratio**LEVEL_POWER
    # NB2 dispersion by moments on the weighted residuals (Cameron & Trivedi).
    w = weights[fitted_hours]
    mu = expected[fitted_hours]
    alpha = float(np.sum(w * ((y[fitted_hours] - mu) ** 2 - mu)) / np.sum(w * mu**2))
    tail = (1 - level) / 2
    if alpha <= 1e-6:
        lower = stats.poisson.ppf(tail, mean)
        upper = stats.poisson.ppf(1 - tail, mean)
    else:
        n = 1.0 / alpha
        lower = stats.nbinom.ppf(tail, n, n / (n + mean))
        upper = stats.nbinom.ppf(1 - tail, n, n / (n + mean))
    zero = mean <= 0
    return mean, np.where(zero, 0.0, lower), np.where(zero, 0.0, upper)


def _stl_ets(history: pd.Series, horizon: int, level: float, calendar: Calendar) -> Arrays:
    import numpy as np
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    from statsmodels.tsa.forecasting.stl import STLForecast

    y = pd.Series(np.log1p(history.to_numpy(float)[-WINDOW_WEEKS * WEEK :]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ETS start-value and convergence chatter
        fit = STLForecast(
            y,
            ETSModel,
            model_kwargs={"error": "add", "trend": "add", "damped_trend": True},
            period=WEEK,
            robust=True,
        ).fit(fit_kwargs={"disp": False})
        frame = fit.get_prediction(len(y), len(y) + horizon - 1).summary_frame(alpha=1 - level)
    if not np.isfinite(frame.to_numpy(float)).all():
        raise ForecastError("STL + ETS produced no finite forecast for this series")
    # STLForecast names the prediction interval of its inner model mean_ci_*.
    low = "pi_lower" if "pi_lower" in frame else "mean_ci_lower"
    high = "pi_upper" if "pi_upper" in frame else "mean_ci_upper"
    return (
        np.expm1(frame["mean"].to_numpy(float)),
        np.expm1(frame[low].to_numpy(float)),
        np.expm1(frame[high].to_numpy(float)),
    )


_PREDICTORS: dict[str, Callable[[pd.Series, int, float, Calendar], Arrays]] = {
    "profile": _profile,
    "naive": _naive,
    "stl-ets": _stl_ets,
}


# -- backtest --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backtest:
    """Rolling-origin scores; MASE is scaled by the in-sample same-hour-last-week error."""

    model: str
    model_mase: float
    baseline_mase: float
    coverage_80: float
    baseline_coverage_80: float
    origins: int
    horizon: int
    hours_scored: int
    first_origin: str
    last_origin: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def backtest(
    history: pd.Series,
    *,
    model: str = "profile",
    horizon: int = 24,
    every: int = 24,
    max_origins: int | None = None,
    calendar: Calendar | None = None,
    min_history: int = 4 * WEEK,
) -> Backtest:
    """Forecast from origins at local midnights (every `every` hours) after `min_history`
    hours; score the next `horizon` hours against what happened (closed days not scored)."""
    import numpy as np

    calendar = calendar or Calendar()
    check_history(history, min_history + horizon)
    if model not in MODELS:
        raise ForecastError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    index = history.index
    midnights = np.flatnonzero(np.asarray(index.hour) == 0)
    origins = [int(o) for o in midnights if o >= min_history and o + horizon <= len(history)]
    origins = origins[:: max(1, every // 24)] if every >= 24 else origins
    if max_origins is not None and len(origins) > max_origins:
        keep = np.linspace(0, len(origins) - 1, max_origins).round().astype(int)
        origins = [origins[k] for k in keep]
    if not origins:
        raise ForecastError(
            f"too little history for a backtest: {len(history)} hours, need more than "
            f"{min_history + horizon} with a midnight after the first {min_history}"
        )
    y = history.to_numpy(float)
    scores: dict[str, list[float]] = {"model": [], "baseline": []}
    inside: dict[str, list[float]] = {"model": [], "baseline": []}
    scored = 0
    for origin in origins:
        past = history.iloc[:origin]
        naive_errors = np.abs(y[WEEK:origin] - y[: origin - WEEK])
        scale = float(np.mean(naive_errors))
        if scale <= 0:
            continue
        actual = y[origin : origin + horizon]
        open_ = ~calendar.is_closed(index[origin : origin + horizon])
        if not open_.any():
            continue
        scored += int(open_.sum())
        for key, name in (("model", model), ("baseline", "naive")):
            result = forecast(past, horizon, model=name, calendar=calendar).frame
            mean = result["mean"].to_numpy()[open_]
            low = result["lower"].to_numpy()[open_]
            high = result["upper"].to_numpy()[open_]
            seen = actual[open_]
            scores[key].append(float(np.mean(np.abs(seen - mean))) / scale)
            inside[key].append(float(np.mean((seen >= low) & (seen <= high))))
    if not scores["model"]:
        raise ForecastError("no origin could be scored (the history counts nobody)")
    return Backtest(
        model=model,
        model_mase=_round(np.mean(scores["model"])),
        baseline_mase=_round(np.mean(scores["baseline"])),
        coverage_80=_round(np.mean(inside["model"])),
        baseline_coverage_80=_round(np.mean(inside["baseline"])),
        origins=len(scores["model"]),
        horizon=horizon,
        hours_scored=scored,
        first_origin=index[origins[0]].isoformat(),
        last_origin=index[origins[-1]].isoformat(),
    )


def _round(value: Any) -> float:
    number = float(value)
    return round(number, 4) if math.isfinite(number) else number
