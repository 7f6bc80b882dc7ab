"""What venue operators read from stored counts: comparisons (`compare`), forecasts
(`forecast`), reports and charts (`report`), exports (`export`)."""
