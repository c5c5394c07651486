"""One numeric column of a CSV (or an array) -> a forecasting Problem, with its two baselines.

Evaluation is walk-forward over the last third of the series: the model is fitted once on the first
two thirds, then every test value t is predicted from the true values of the look-back window that
ends `horizon` steps before t (horizon 1: the next value, as the airline-passengers problem does;
horizon H: the value H steps after the window, one model output, not a path of H values). The
persistence forecast (the value H steps before t) and the seasonal-naive one (the value a whole
number of seasons before t, the latest at least H steps back) are scored on exactly the same test
values, and stand beside the model as its references.

A date column, when one parses as dates, orders the rows and gives the season (12 for monthly
data, 4 quarterly, 7 daily, ...); without one the rows are taken in file order and the season is
the lag with the strongest autocorrelation of the differenced training values, if any stands out.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from deepstart.errors import DataError, DeepstartError
from deepstart.problems import Dataset, Problem, Reference
from deepstart.problems.tabular import as_frame, check_column

TEST_SHARE = 1 / 3
# Seasons by the pandas frequency of the dates (prefix match): a year of months, quarters, weeks;
# a week of days (5 business days); a day of hours.
SEASONS = (("QS", 4), ("Q", 4), ("MS", 12), ("ME", 12), ("M", 12), ("W", 52), ("B", 5), ("D", 7),
           ("h", 24), ("H", 24))
# An autocorrelation peak must reach this to count as a season (and beat 2/sqrt(n), its noise level).
MIN_SEASON_ACF = 0.3
# How much lower a period's own peak may be than its multiple's and still be taken as the season.
SEASON_ACF_SLACK = 0.15
MAX_LOOKBACK = 12
RECIPE = {"model": "mlp", "hidden": [32], "epochs": 200, "batch_size": 16, "lr": 1e-3}


def series_problem(data, forecast: str | None = None, *, horizon: int = 1, season: int | None = None,
                   name: str = "series", origin: str = "a series given from Python",
                   path: str | None = None) -> Problem:
    """A forecasting Problem for the column `forecast` of a table (or a 1-D array of values)."""
    source = path or "the table"
    if not isinstance(horizon, int) or horizon < 1:
        raise DeepstartError(f"the horizon must be a positive whole number of steps; received {horizon!r}.")
    if not isinstance(data, (pd.DataFrame, Mapping)):
        array = np.asarray(data)
        if array.ndim == 1 and array.dtype.names is None:  # the values alone
            named = isinstance(data, pd.Series) and data.name is not None
            forecast = forecast or (str(data.name) if named else "value")
            data = {forecast: array}
    if forecast is None:
        raise DeepstartError("name the column to forecast (forecast='COLUMN', --forecast COLUMN).")
    frame = as_frame(data)
    forecast = str(forecast)
    check_column(frame, forecast, "the series to forecast", source)

    raw = frame[forecast]
    values = pd.to_numeric(raw, errors="coerce")
    text = raw[values.isna() & raw.notna()]
    if len(text):
        raise DataError(f"the column '{forecast}' of {source} holds text (e.g. {str(text.iloc[0])!r} "
                        f"in row {text.index[0] + 2}); a forecast needs numbers in every row.")
    date_column, dates, notes = _dates(frame, forecast)
    if dates is not None:
        order = np.argsort(dates.to_numpy(), kind="stable")
        if not np.array_equal(order, np.arange(len(order))):
            notes.append(f"rows sorted by {date_column}")
            values, dates = values.iloc[order].reset_index(drop=True), dates.iloc[order].reset_index(drop=True)
    s = values.to_numpy(np.float64, copy=True)
    s[~np.isfinite(s)] = np.nan
    present = np.flatnonzero(~np.isnan(s))
    if len(present) == 0:
        raise DataError(f"the column '{forecast}' of {source} is empty: all {len(s)} values are "
                        "missing; pick another column with --forecast.")
    # Leading and trailing gaps are cut; gaps inside are filled linearly between their neighbours.
    first, last = present[0], present[-1]
    if first > 0 or last < len(s) - 1:
        notes.append(f"{first + len(s) - 1 - last} missing value(s) at the ends dropped")
    s = s[first:last + 1]
    dates = dates.iloc[first:last + 1].reset_index(drop=True) if dates is not None else None
    gaps = np.isnan(s)
    if gaps.any():
        s[gaps] = np.interp(np.flatnonzero(gaps), np.flatnonzero(~gaps), s[~gaps])
        notes.append(f"{int(gaps.sum())} missing value(s) inside filled by linear interpolation")

    n = len(s)
    n_test = max(1, int(round(n * TEST_SHARE)))
    n_train = n - n_test
    if n_train < horizon + 2:
        raise DataError(f"the series '{forecast}' has {n} values, too short for a horizon of "
                        f"{horizon}: its training part (the first {n_train}, the last third is the "
                        f"test) needs at least look-back + horizon + 1 = {horizon + 2} values; give "
                        "a longer series or a smaller --horizon.")

    frequency = _frequency(dates) if dates is not None else None
    if season is not None:
        if not isinstance(season, int) or season < 1:
            raise DeepstartError(f"the season must be a positive whole number of steps; received {season!r}.")
        season_from = "given"
    else:
        season, season_from = _season_from_frequency(frequency)
        if season is None:
            season, season_from = _season_from_autocorrelation(s[:n_train])
    back = None
    if season is not None and season > 1:
        back = season * math.ceil(horizon / season)  # the latest same-season value H or more back
        if back > n_train:
            if season_from == "given":
                raise DataError(f"a season of {season} needs at least {back} values before the "
                                f"test part; the series has {n_train}; give a smaller --season.")
            season, back, season_from = None, None, f"{season_from}, too long for this series"

    lookback = _default_lookback(season, horizon, n_train)
    test_t = np.arange(n_train, n)
    y = s[test_t]
    baselines = {"persistence": _rmse(y, s[test_t - horizon])}
    steps = "step" if horizon == 1 else "steps"
    references = [Reference(baselines["persistence"],
                            f"persistence baseline (the value {horizon} {steps} earlier)",
                            f"computed on the same {n_test} test values")]
    if back is not None:
        baselines["seasonal_naive"] = _rmse(y, s[test_t - back])
        references.append(Reference(baselines["seasonal_naive"],
                                    f"seasonal naive baseline (the value {back} steps earlier, "
                                    f"season {season})", f"computed on the same {n_test} test values"))

    s32 = s.astype(np.float32)
    dataset = Dataset(s32[:n_train, None], s32[:n_train], s32[n_train:, None], s32[n_train:],
                      feature_names=(forecast,), series=s32, test_targets=test_t, horizon=horizon)
    period = ""
    if dates is not None:
        period = f", {dates.iloc[0].date()}..{dates.iloc[-1].date()}"
    schema = {"series": {
        "column": forecast, "date_column": date_column, "frequency": frequency,
        "season": season, "season_from": season_from, "horizon": horizon, "values": n,
        "train_values": n_train, "test_values": n_test,
        "test": f"walk-forward over the last {n_test} values (the last third): each predicted from "
                f"the true values up to {horizon} {steps} before it; the model is fitted once",
        "notes": notes, "baselines": baselines,
    }}
    return Problem(
        name=name, title=f"{name}: forecast {forecast} {horizon} {steps} ahead", task="forecast",
        kind="series", metric="rmse",
        split=f"first {n_train} values train; the last {n_test} are the test targets (walk-forward)",
        origin=origin, size=f"{n} values{period}", load_raw=lambda **_: dataset,
        references=tuple(references), recipe=dict(RECIPE, lookback=lookback), path=path,
        schema=schema)


def _dates(frame: pd.DataFrame, forecast: str) -> tuple[str | None, pd.Series | None, list[str]]:
    """The first other column whose every value parses as a date (text, not numbers)."""
    for column in frame.columns:
        if column == forecast or frame[column].dtype.kind in "biuf":
            continue
        col = frame[column]
        if col.dtype.kind == "M":
            dates = col
        else:
            with warnings.catch_warnings():  # "could not infer format": then it is not a date column
                warnings.simplefilter("ignore")
                dates = pd.to_datetime(col, errors="coerce")
        if len(dates) and dates.notna().all():
            return column, dates.reset_index(drop=True), []
    return None, None, []


def _frequency(dates: pd.Series) -> str | None:
    if len(dates) < 3 or dates.duplicated().any():
        return None
    try:
        with warnings.catch_warnings():  # pandas 3 warns that a later version returns an offset
            warnings.simplefilter("ignore")
            frequency = pd.infer_freq(pd.DatetimeIndex(dates))
    except (TypeError, ValueError):
        return None
    return getattr(frequency, "freqstr", frequency)


def _season_from_frequency(frequency: str | None) -> tuple[int | None, str]:
    if frequency:
        base = frequency.lstrip("0123456789")
        for prefix, season in SEASONS:
            if base.startswith(prefix):
                return season, f"the dates are {_FREQ_WORDS.get(prefix, frequency)}"
    return None, "none detected"


_FREQ_WORDS = {"QS": "quarterly", "Q": "quarterly", "MS": "monthly", "ME": "monthly", "M": "monthly",
               "W": "weekly", "B": "business-daily", "D": "daily", "h": "hourly", "H": "hourly"}


def _season_from_autocorrelation(train: np.ndarray) -> tuple[int | None, str]:
    """The lag (2 .. a third of the values) where the autocorrelation of the differenced series
    peaks highest, if that peak clears both MIN_SEASON_ACF and the noise level 2/sqrt(n)."""
    d = np.diff(train)
    n = len(d)
    max_lag = n // 3
    if max_lag < 2 or d.std() == 0:
        return None, "none detected (series too short or flat)"
    d = d - d.mean()
    acf = np.array([np.dot(d[:-k], d[k:]) / np.dot(d, d) for k in range(1, max_lag + 1)])
    peaks = [k for k in range(2, max_lag) if acf[k - 1] > acf[k - 2] and acf[k - 1] >= acf[k]]
    if not peaks:
        return None, "none detected"
    best = max(peaks, key=lambda k: acf[k - 1])
    floor = max(MIN_SEASON_ACF, 2 / math.sqrt(n))
    if acf[best - 1] < floor:
        return None, "none detected"
    # A series with period p also correlates at 2p, 3p, ..., often a little higher (a monthly series
    # peaked at 24 above 12): the shortest period whose multiple the best lag is (its peak within a
    # step, or a tenth of the period) and whose peak is barely lower is the season.
    for multiple in range(max_lag // 2, 1, -1):
        period = best / multiple
        near = [k for k in peaks if abs(k - period) <= max(1.0, period / 10)]
        if period >= 2 and near:
            p = max(near, key=lambda k: acf[k - 1])
            if acf[p - 1] >= max(floor, acf[best - 1] - SEASON_ACF_SLACK):
                return p, (f"autocorrelation peak {acf[p - 1]:.2f} at lag {p} (and "
                           f"{acf[best - 1]:.2f} at its multiple {best})")
    return best, f"autocorrelation peak {acf[best - 1]:.2f} at lag {best}"


def _default_lookback(season: int | None, horizon: int, n_train: int) -> int:
    """A season's worth of values when that leaves at least half the training part as targets, else
    up to 12, shorter for short series."""
    if season and season > 1 and season + horizon - 1 <= n_train // 2:
        return season
    return max(1, min(MAX_LOOKBACK, (n_train - horizon) // 4))


def _rmse(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - pred) ** 2)))
