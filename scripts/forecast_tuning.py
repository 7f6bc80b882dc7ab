"""How much of yesterday's surprise to carry (forecast.LEVEL_POWER), measured on training years.

    python scripts/burke_gilman.py
    python scripts/forecast_tuning.py build/burke_gilman/ped-201[45].csv

Prints the rolling-origin backtest (24 h ahead from every midnight) of the profile model for a
few powers; 2019 is kept out of the choice and scored once with the chosen power (README).
"""

from __future__ import annotations

import sys

from gateway.insight import forecast
from gateway.insight.series import read_csv


def main() -> int:
    print(f"{'series':<12}{'power':>7}{'MASE':>8}{'naive':>8}{'cover80':>9}")
    for path in sys.argv[1:]:
        hourly = read_csv(path).hourly()
        for power in (0.0, 0.25, 0.5, 0.75, 1.0):
            forecast.LEVEL_POWER = power
            result = forecast.backtest(hourly)
            print(
                f"{read_csv(path).name:<12}{power:>7.2f}{result.model_mase:>8.3f}"
                f"{result.baseline_mase:>8.3f}{result.coverage_80:>9.3f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
